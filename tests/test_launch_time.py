"""Honest times (issue 8): the summary prints the process's wall time beside the run's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flowctl.commands.run import summary_lines
from flowctl.durations import format_duration
from tests.runner.sched_kit import FUNCS, run_spec


def test_process_seconds_count_from_the_launch_not_from_the_import() -> None:
    # The interpreter sleeps before it imports flowctl: that time is the user's too.
    code = (
        "import time; time.sleep(0.3)\n"
        "from flowctl.launch import process_seconds\n"
        "print(process_seconds())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(out.stdout) >= 0.3


def test_the_summary_gives_the_run_and_the_total(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: timed
        steps:
          - id: a
            python: {FUNCS}:noop
        """,
    )
    (head, *_) = summary_lines(result, total=result.duration + 1.5)
    run, total = format_duration(result.duration), format_duration(result.duration + 1.5)
    assert head[0].startswith(f"✓ timed completed in {run}, total {total} (run ")
    # Without a total (a view that has none) the line is as before.
    assert summary_lines(result)[0][0].startswith(f"✓ timed completed in {run} (run ")


def test_a_run_turns_the_collector_back_on_once_started_up(tmp_path: Path) -> None:
    # The entry point pauses the cycle collector for start-up; the run must resume it (and
    # freeze what start-up left) before its steps, so a long run collects as usual.
    spec = tmp_path / "flow.yaml"
    check = "tests.runner.sched_funcs:collector_resumed_and_frozen"
    spec.write_text(f"name: gc\nsteps:\n  - id: a\n    python: {check}\n")
    code = (
        "import sys; sys.argv = ['flowctl', 'run', sys.argv[1], '--output', 'json',"
        " '--state-dir', sys.argv[2]]\n"
        "from flowctl.entry import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(spec), str(tmp_path / "state")],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr  # the step raises unless both hold
