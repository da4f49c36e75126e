"""The HTML run report: one self-contained file, one SVG bar per attempt, secrets masked."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SECRET = "s3cret-token-value-42"

SPEC = """
name: report-me
secrets: [TOKEN]
steps:
  - id: flaky
    retry_policy: {max_attempts: 3, delay: 0.05s}
    run: |
      n=$(cat count 2>/dev/null || echo 0); echo $((n + 1)) > count
      echo "attempt $n with $TOKEN"
      test "$n" -ge 2
  - id: matrix
    type: loop
    loop:
      for_each: [a, b]
      steps:
        - id: build
          run: 'echo "building {{ item }}"'
  - id: boom
    dependencies: [flaky]
    run: 'echo "<script>alert(1)</script> failed" >&2; exit 2'
"""


def flowctl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "TOKEN": SECRET}
    return subprocess.run(
        [sys.executable, "-m", "flowctl", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


class _Page(HTMLParser):
    """The tags and attributes of a page, and whether anything would be fetched."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int]:
    work = tmp_path_factory.mktemp("report")
    (work / "wf.yaml").write_text(SPEC)
    done = flowctl(work, "run", "wf.yaml", "-q", "--keep-going", "--html-report", "run.html")
    assert done.returncode == 1, done.stdout + done.stderr
    (run_dir,) = (work / ".flowctl" / "runs").iterdir()
    journal = (run_dir / "audit.jsonl").read_text()
    attempts = sum(
        1 for line in journal.splitlines() if json.loads(line)["event"] == "step_started"
    )
    return work, (work / "run.html").read_text(), attempts


def test_the_report_is_one_self_contained_file(report: tuple[Path, str, int]) -> None:
    _, text, _ = report
    page = _Page()
    page.feed(text)
    for tag, attrs in page.tags:
        assert tag not in ("script", "iframe", "object", "embed"), tag
        for name in ("src", "href"):
            value = attrs.get(name, "")
            assert not value or value.startswith(("data:", "#")), (tag, name, value)
        if tag == "link":
            assert attrs.get("href", "").startswith("data:")
    assert "default-src 'none'" in text  # nothing may be fetched, by policy too


def test_one_bar_per_attempt_with_backoff_between_retries(report: tuple[Path, str, int]) -> None:
    _, text, attempts = report
    bars = re.findall(
        r'<rect class="attempt ([a-z]+)" data-step="([^"]+)" data-attempt="(\d)"', text
    )
    assert len(bars) == attempts
    flaky = [(status, n) for status, step, n in bars if step == "flaky"]
    assert flaky == [("retried", "1"), ("retried", "2"), ("completed", "3")]
    assert len(re.findall(r'<rect class="backoff"', text)) == 2
    assert {step for _, step, _ in bars} >= {"matrix[0].build", "matrix[1].build", "boom"}


def test_graph_steps_logs_and_masking(report: tuple[Path, str, int]) -> None:
    _, text, _ = report
    assert '<svg id="dag"' in text
    assert re.search(r'<rect class="node( critical)? failed"', text)
    assert "<td>boom</td><td>action</td><td>failed</td>" in text
    assert "retried 2 times" in text
    assert "attempt 2 with ***" in text and SECRET not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; failed" in text and "<script>" not in text


def test_report_command_writes_the_same_file(report: tuple[Path, str, int]) -> None:
    work, text, _ = report
    done = flowctl(work, "report", "report-", "--html", "again.html")
    assert done.returncode == 2 and "no run 'report-'" in done.stderr
    (run_dir,) = (work / ".flowctl" / "runs").iterdir()
    done = flowctl(work, "report", run_dir.name[:12], "--html", "again.html")
    assert done.returncode == 0, done.stderr
    assert (work / "again.html").read_text() == text


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.mark.slow
def test_headless_chromium_renders_it_without_console_errors(
    report: tuple[Path, str, int], tmp_path: Path
) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium installed (Debian: apt-get install chromium)")
    work, _, attempts = report
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            (work / "run.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    dom = done.stdout
    assert len(re.findall(r'<rect class="attempt [a-z]+" data-step=', dom)) == attempts
    assert '<svg id="gantt"' in dom and '<svg id="dag"' in dom
