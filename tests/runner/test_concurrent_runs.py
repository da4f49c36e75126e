"""Many `flowctl run` processes at once: one history file, one state dir, nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowctl.state.audit import read_journal
from flowctl.state.history import HistoryIssue, iter_history

SPEC = """\
name: concurrent
steps:
  - id: a
    run: echo a
  - id: b
    dependencies: [a]
    run: sleep 0.05
  - id: c
    dependencies: [a]
    run: echo c
"""


@pytest.mark.slow
def test_eight_concurrent_runs_share_one_history_file(tmp_path: Path) -> None:
    spec = tmp_path / "wf.yaml"
    spec.write_text(SPEC)
    state, history = tmp_path / "state", tmp_path / "shared" / "history.jsonl"
    env = {**os.environ, "CI": "true"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "flowctl", "run", str(spec), "--no-progress",
             "--state-dir", str(state), "--history", str(history)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]  # fmt: skip
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    issues: list[HistoryIssue] = []
    records = list(iter_history(history, issues))
    assert issues == []
    assert len(records) == 8
    assert len({r.run_id for r in records}) == 8  # each run its own id and directory
    assert all(r.status == "completed" and len(r.steps) == 3 for r in records)
    assert history.read_text().count("\n") == 8  # whole lines, none torn or merged
    for record in records:
        journal = read_journal(state / "runs" / record.run_id / "audit.jsonl")
        assert not journal.torn_tail and not journal.bad_lines
        assert journal.events[-1].event == "run_finished"
