"""kill -9 during a run, then resume: completed steps are never run twice, all finish."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowctl.runner.resume.run import resume_workflow
from flowctl.state.audit import read_journal
from flowctl.status import RunStatus
from tests.cli import REPO, python_path
from tests.runner.failure_funcs import calls
from tests.runner.sched_kit import write_spec

KIT = "tests.runner.failure_funcs"
STEPS = ["a", "b", "c", "each[0].w", "each[1].w", "each[2].w", "p1", "p2", "z"]


def _spec(log: Path) -> str:
    def counted(name: str, seconds: float = 0.05) -> str:
        mapping = f"{{log: \"'{log}'\", name: \"'{name}'\", seconds: {seconds}}}"
        return f"python: {KIT}:slow_counted\n    input_mapping: {mapping}"

    w_name = "\"'each[' ~ item ~ '].w'\""
    return f"""
name: crash
steps:
  - id: a
    {counted("a")}
  - id: b
    dependencies: [a]
    {counted("b")}
  - id: c
    dependencies: [a]
    {counted("c", 0.12)}
  - id: each
    type: loop
    dependencies: [b]
    loop:
      for_each: [0, 1, 2]
      steps:
        - id: w
          python: {KIT}:slow_counted
          input_mapping: {{log: "'{log}'", name: {w_name}, seconds: 0.05}}
  - id: par
    type: parallel
    dependencies: [c]
    parallel_steps:
      - id: p1
        python: {KIT}:slow_counted
        input_mapping: {{log: "'{log}'", name: "'p1'", seconds: 0.05}}
      - id: p2
        python: {KIT}:slow_counted
        input_mapping: {{log: "'{log}'", name: "'p2'", seconds: 0.08}}
  - id: z
    dependencies: [each, par]
    {counted("z")}
"""


@pytest.mark.slow
@pytest.mark.parametrize("completed_before_kill", [1, 3, 6])
def test_a_run_killed_mid_way_resumes_without_repeating_work(
    tmp_path: Path, completed_before_kill: int
) -> None:
    log = tmp_path / "calls"
    spec = write_spec(tmp_path, _spec(log))
    state = tmp_path / ".flowctl"
    argv = [sys.executable, "-m", "flowctl", "run", str(spec), "--no-progress"]
    argv += ["--state-dir", str(state)]
    env = {**os.environ, "PYTHONPATH": python_path(), "CI": "true"}
    proc = subprocess.Popen(
        argv,
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            runs = list((state / "runs").glob("*/audit.jsonl"))
            if runs:
                done = [e for e in read_journal(runs[0]).events if e.event == "step_completed"]
                if len(done) >= completed_before_kill:
                    break
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    journal = read_journal(runs[0])
    assert not journal.bad_lines
    completed = {e.step for e in journal.events if e.event == "step_completed"}
    assert len(completed) >= completed_before_kill
    assert not [e for e in journal.events if e.event == "run_finished"]

    result = resume_workflow(runs[0].parent.name, state_dir=state, durable=False)
    assert result.status is RunStatus.COMPLETED, result.error
    counts = calls(log)
    assert set(counts) == set(STEPS)
    for step in completed & set(STEPS):
        assert counts[step] == 1, (step, counts)
    assert all(n <= 2 for n in counts.values())  # in flight at the kill: at least once
