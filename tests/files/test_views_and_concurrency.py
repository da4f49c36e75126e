"""up_to_date in the views (JUnit, plain lines, runs show, dry-run JSON); concurrent runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flowctl.junit import build_junit, step_reports
from flowctl.runner.events import StepFinished
from flowctl.state.fingerprints import StepFiles
from flowctl.status import StepStatus
from tests.e2e.kit import cli_env
from tests.files.test_up_to_date import BUILD, _run, _tree
from tests.runner.sched_kit import spec_text


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowctl", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_junit_says_up_to_date(tmp_path: Path) -> None:
    _tree(tmp_path)
    _run(tmp_path)
    result = _run(tmp_path)
    tree = build_junit(result.run_id, "build", step_reports(result.steps.values()))
    outs = [e.text for e in tree.getroot().iter("system-out")]
    assert outs.count("up to date: not run, its sources and definition had not changed") == 3
    suite = tree.getroot().find("testsuite")  # junit-10.xsd: `skipped` on <testsuite> only
    assert suite is not None and suite.get("failures") == "0" and suite.get("skipped") == "0"


def test_the_plain_view_runs_show_and_the_dry_run_json_say_up_to_date(tmp_path: Path) -> None:
    _tree(tmp_path)
    (tmp_path / "wf.yaml").write_text(spec_text(BUILD))
    assert _cli(tmp_path, "run", "wf.yaml", "--no-progress").returncode == 0
    second = _cli(tmp_path, "run", "wf.yaml", "--no-progress")
    assert second.returncode == 0
    assert second.stdout.count("(up to date)") == 3
    runs = _cli(tmp_path, "runs")
    newest = runs.stdout.splitlines()[1].split()[0]
    shown = _cli(tmp_path, "runs", "show", newest)
    assert shown.stdout.count("up to date") == 3, shown.stdout
    (tmp_path / "b.src").write_text("changed\n")
    dry = _cli(tmp_path, "run", "wf.yaml", "--dry-run", "--output", "json")
    assert json.loads(dry.stdout)["files"] == {
        "compile_a": "up to date",
        "compile_b": "will run: source changed: b.src",
        "link": "up to date now; may run after 'compile_b' runs",
    }


@pytest.mark.slow
def test_concurrent_runs_share_the_records_safely(tmp_path: Path) -> None:
    _tree(tmp_path)
    (tmp_path / "wf.yaml").write_text(spec_text(BUILD))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "flowctl", "run", "wf.yaml", "--no-progress"],
            cwd=tmp_path,
            env=cli_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    records = list((tmp_path / ".flowctl" / "fingerprints").glob("*/*.json"))
    assert len(records) == 3
    # whole records only: each decodes, header line and source columns alike
    decoded = [StepFiles.decode(r.read_bytes()) for r in records]
    assert all(d is not None and d.sources.paths for d in decoded)
    assert all(json.loads(r.read_text().splitlines()[0])["version"] == 2 for r in records)
    assert not list((tmp_path / ".flowctl" / "fingerprints").glob("*/.tmp-*"))
    again = _cli(tmp_path, "run", "wf.yaml", "--no-progress")
    assert again.stdout.count("(up to date)") == 3


def test_a_finished_event_with_up_to_date_is_a_pass() -> None:
    event = StepFinished(
        step="s",
        step_type="action",
        status=StepStatus.COMPLETED,
        attempts=0,
        duration=0.0,
        ts=0.0,
        up_to_date=True,
    )
    (report,) = step_reports([event])
    assert report.up_to_date and report.status is StepStatus.COMPLETED
