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
