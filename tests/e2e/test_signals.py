"""Real signals to a real `flowctl run`: cancel, roll back, leave no process, stay resumable."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from tests.cli import process_gone, wait_for
from tests.e2e.kit import Workspace, finish, line_counts, lines, q

COUNT = 'echo "$FLOWCTL_STEP_ID" >> "$COUNTS"'


def stop_group(pidfile: Path) -> None:
    """Kill the process group a step started (steps run in their own sessions)."""
    if pidfile.exists() and pidfile.read_text().strip():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(pidfile.read_text()), signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_cancels_rolls_back_exits_130_and_leaves_no_process(
    ws: Workspace, sig: signal.Signals
) -> None:
    pidfile = ws.path("grandchild.pid")
    spec = ws.spec(
        f"""
        name: interrupted
        env: {{COUNTS: {q(ws.path("counts"))}}}
        steps:
          - id: reserve
            run: '{COUNT}'
            rollback_actions:
              - run: 'echo release >> {q(ws.path("order"))}'
          - id: work
            dependencies: [reserve]
            run: '{COUNT}; sleep 30 & echo $! > {q(pidfile)}; wait'
            rollback_actions:
              - run: 'echo never >> {q(ws.path("order"))}'
          - id: after
            dependencies: [work]
            run: '{COUNT}'
        """
    )
    proc = ws.start("run", str(spec))
    wait_for("its pid", lambda: pidfile.exists() and bool(pidfile.read_text()), proc=proc)
    grandchild = int(pidfile.read_text())
    assert not process_gone(grandchild)
    proc.send_signal(sig)
    code, out, err = finish(proc)
    assert code == 130, out + err
    wait_for(f"pid {grandchild} to be gone", lambda: process_gone(grandchild), timeout=5)
    assert lines(ws.path("order")) == ["release"]
    assert line_counts(ws.path("counts")) == {"reserve": 1, "work": 1}
    run = ws.only_run()
    assert run.finished().data["status"] == "cancelled"
    assert len(run.named("rollback_started")) == 1
    assert run.steps_with("step_rolled_back") == ["reserve"]
    statuses = run.statuses()
    assert statuses["work"] == "cancelled" and statuses["reserve"] == "rolled_back"
    assert statuses["after"] != "completed"
    assert f"interrupted by {sig.name}" in out + err


def test_a_second_sigint_stops_at_once_and_the_run_resumes(ws: Workspace) -> None:
    go = ws.path("go")
    rollback_pid = ws.path("rollback.pid")
    spec = ws.spec(
        f"""
        name: impatient
        env: {{COUNTS: {q(ws.path("counts"))}}}
        steps:
          - id: reserve
            run: '{COUNT}'
            rollback_actions:
              - run: 'echo $$ > {q(rollback_pid)}; sleep 4; echo release >> {q(ws.path("order"))}'
          - id: work
            dependencies: [reserve]
            run: '{COUNT}; if [ -f {q(go)} ]; then exit 0; fi; sleep 30'
          - id: after
            dependencies: [work]
            run: '{COUNT}'
        """
    )
    proc = ws.start("run", str(spec))
    try:
        counts = ws.path("counts")
        wait_for("work to start", lambda: line_counts(counts)["work"] == 1, proc=proc)
        proc.send_signal(signal.SIGINT)
        ws.wait_for_event("rollback_started", proc=proc)
        proc.send_signal(signal.SIGINT)
        code, out, err = finish(proc)
    finally:
        stop_group(rollback_pid)  # the interrupted rollback action, if flowctl left it
    assert code == 130, out + err
    run = ws.only_run()
    journal = run.journal()
    assert not journal.bad_lines
    assert "step_rolled_back" not in [e.event for e in journal.events]

    go.touch()
    resumed = ws.resume(run.run_id)
    assert resumed.code == 0, resumed.explain()
    assert line_counts(ws.path("counts")) == {"reserve": 1, "work": 2, "after": 1}
    assert run.finished().data["status"] == "completed"
