"""run --watch: a changed source runs the affected part again; Ctrl-C stops cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.kit import cli_env, wait_for

SPEC = """\
name: watched
steps:
  - id: upper_a
    run: tr a-z A-Z < a.txt > a.up && echo upper_a >> ran.log
    sources: [a.txt]
    generates: [a.up]
  - id: upper_b
    run: tr a-z A-Z < b.txt > b.up && echo upper_b >> ran.log
    sources: [b.txt]
    generates: [b.up]
  - id: join
    run: cat a.up b.up > both.txt && echo join >> ran.log
    sources: ["*.up"]
    generates: [both.txt]
"""


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


@pytest.mark.slow
def test_a_change_runs_the_affected_part_and_ctrl_c_stops(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(SPEC)
    (tmp_path / "a.txt").write_text("a\n")
    (tmp_path / "b.txt").write_text("b\n")
    ran = tmp_path / "ran.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowctl", "run", "wf.yaml", "--watch", "--no-progress"],
        cwd=tmp_path,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for("the first run", lambda: len(_lines(ran)) == 3, timeout=60, proc=proc)
        err_seen: list[str] = []
        # Wait until the watcher is up: it says so on stderr once the first run is done.
        assert proc.stderr is not None
        while not any("watching" in line for line in err_seen):
            err_seen.append(proc.stderr.readline())
        (tmp_path / "b.txt").write_text("bee\n")
        wait_for("the second run", lambda: len(_lines(ran)) == 5, timeout=60, proc=proc)
        assert _lines(ran)[3:] == ["upper_b", "join"]  # upper_a was up to date
        assert (tmp_path / "both.txt").read_text() == "A\nBEE\n"
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert "[watch] changed: b.txt; running again" in err
    assert err.rstrip().endswith("[watch] stopped watching")


def test_the_filter_takes_sources_and_the_spec_and_leaves_out_generated_files(
    tmp_path: Path,
) -> None:
    from flowctl.files.watching import SourceFilter
    from flowctl.spec.load import load_workflow

    spec = tmp_path / "wf.yaml"
    spec.write_text(SPEC)
    interested = SourceFilter(load_workflow(spec), tmp_path, Path(".flowctl"), spec)
    assert interested(str(tmp_path / "a.txt"))
    assert interested(str(spec))
    assert not interested(str(tmp_path / "a.up"))  # generated: its own writes never loop
    assert not interested(str(tmp_path / "notes.md"))
    assert not interested(str(tmp_path / ".flowctl" / "history.jsonl"))
    assert not interested("/elsewhere/a.txt")
