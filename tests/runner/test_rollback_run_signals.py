"""SIGINT and SIGTERM during `flowctl run`: cancel, roll back, exit 130; twice: stop at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowctl.state.audit import AuditEvent, read_journal
from tests.cli import REPO, process_gone, python_path, wait_for
from tests.runner.sched_kit import write_spec


def _start(tmp_path: Path, text: str) -> subprocess.Popen[str]:
    spec = write_spec(tmp_path, text)
    argv = [sys.executable, "-m", "flowctl", "run", str(spec), "--no-progress"]
    argv += ["--state-dir", str(tmp_path / ".flowctl")]
    env = {**os.environ, "PYTHONPATH": python_path(), "NO_COLOR": "1", "CI": "true"}
    return subprocess.Popen(
        argv,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _journal(tmp_path: Path) -> list[AuditEvent]:
    runs = tmp_path / ".flowctl" / "runs"
    found = list(runs.iterdir()) if runs.exists() else []
    if not found or not (found[0] / "audit.jsonl").exists():
        return []
    return read_journal(found[0] / "audit.jsonl").events


def _wait_for(tmp_path: Path, event: str, step: str | None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(e.event == event and e.step == step for e in _journal(tmp_path)):
            return
        time.sleep(0.02)
    raise AssertionError(f"no {event} for {step} within {timeout} s")


def _spec(tmp_path: Path, undo_seconds: float) -> str:
    return f"""
        name: interrupted
        steps:
          - id: book
            run: echo booked
            rollback_actions:
              - run: 'sleep {undo_seconds}; echo undone >> {tmp_path / "undo.txt"}'
          - id: slow
            dependencies: [book]
            run: 'sleep 60 & echo $! > {tmp_path / "grandchild.pid"}; wait'
        """


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_one_signal_cancels_rolls_back_and_exits_130(tmp_path: Path, sig: signal.Signals) -> None:
    proc = _start(tmp_path, _spec(tmp_path, 0))
    try:
        _wait_for(tmp_path, "step_started", "slow")
        pid_file = tmp_path / "grandchild.pid"
        wait_for(
            "the grandchild wrote its pid",
            lambda: pid_file.exists() and bool(pid_file.read_text().strip()),
            proc=proc,
        )
        grandchild = int(pid_file.read_text())
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert (tmp_path / "undo.txt").read_text() == "undone\n"
    # The step's whole process group was killed.
    wait_for("the sleep grandchild is gone", lambda: process_gone(grandchild))
    evts = _journal(tmp_path)
    finished = [e for e in evts if e.event == "run_finished"]
    assert finished[-1].data["status"] == "cancelled"
    assert finished[-1].data["error"] == f"interrupted by {sig.name}"
    assert [e.step for e in evts if e.event == "step_cancelled"] == ["slow"]
    assert [e.step for e in evts if e.event == "step_rolled_back"] == ["book"]
    assert "cancelled" in out


def test_a_second_sigint_stops_at_once_and_leaves_a_resumable_journal(tmp_path: Path) -> None:
    proc = _start(tmp_path, _spec(tmp_path, 60))
    try:
        _wait_for(tmp_path, "step_started", "slow")
        proc.send_signal(signal.SIGINT)
        _wait_for(tmp_path, "rollback_started", None)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)  # the rollback action alone sleeps 60 s
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert not (tmp_path / "undo.txt").exists()
    evts = _journal(tmp_path)
    assert evts[-1].event == "run_finished" and evts[-1].data["status"] == "cancelled"
    from flowctl.runner.resume.run import plan_resume

    plan = plan_resume(tmp_path / ".flowctl", evts[0].run_id)
    assert not plan.complete and plan.warnings == []
