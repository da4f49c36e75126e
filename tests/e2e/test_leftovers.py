"""Issue 14, item 6: process groups a `kill -9` of flowctl leaves are killed on resume and
by `flowctl runs`, and only groups proven to be the run's own.

Real processes and a real SIGKILL; waits are hang guards, never verdicts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowctl.runner.leftovers import PROCESS_EVENT, kill_leftovers, start_ticks
from flowctl.state.audit import AuditEvent
from tests.cli import gone, process_gone
from tests.e2e.kit import Workspace, q

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _members(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    pids.append(int(entry.name))
    return pids


@contextlib.contextmanager
def _killed_during_sleep(ws: Workspace) -> Iterator[tuple[str, int, list[int]]]:
    """Start a run whose step sleeps, SIGKILL flowctl alone; yields the run id, the step's
    process group and its live members. The group is killed afterwards whatever happens."""
    spec = ws.spec(
        f"""
        name: sleepy
        steps:
          - id: long
            run: test -f {q(ws.path("flag"))} || sleep 300
        """
    )
    proc = ws.start("run", str(spec), output=False)
    ws.wait_for_event(PROCESS_EVENT, "long", proc=proc)
    os.kill(proc.pid, signal.SIGKILL)  # flowctl only: its step's group is another group
    proc.wait()
    run = ws.only_run()
    started = run.named(PROCESS_EVENT, "long")
    assert len(started) == 1, started
    pgid = started[0].data["pgid"]
    assert started[0].data["start"] == start_ticks(pgid)
    try:
        members = _members(pgid)
        assert pgid in members, "the step's group should have outlived flowctl"
        yield run.run_id, pgid, members
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def test_resume_kills_the_process_group_a_killed_run_left(ws: Workspace) -> None:
    with _killed_during_sleep(ws) as (run_id, pgid, members):
        ws.path("flag").touch()
        done = ws.resume(run_id)
        assert done.code == 0, done.explain()
        assert f"killed process group {pgid} of step 'long' (attempt 1)" in done.stderr
        assert all(gone(pid) for pid in members), _members(pgid)


def test_flowctl_runs_kills_the_leftover_group_of_a_dead_run(ws: Workspace) -> None:
    with _killed_during_sleep(ws) as (_, pgid, members):
        listed = ws.cli("runs")
        assert listed.code == 0, listed.explain()
        assert f"killed process group {pgid}" in listed.stdout
        assert all(gone(pid) for pid in members), _members(pgid)
        # A second look finds nothing left to kill.
        again = ws.cli("runs")
        assert "process group" not in again.stdout, again.stdout


def _event(pgid: int, start: int | None) -> AuditEvent:
    return AuditEvent(
        ts="2026-12-03T00:00:00Z",
        seq=2,
        run_id="r1",
        event=PROCESS_EVENT,
        step="long",
        attempt=1,
        data={"pgid": pgid, "start": start},
    )


def _stranger(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)"],
        env=env,
        start_new_session=True,
    )


def test_a_recycled_group_id_is_never_killed() -> None:
    """A live group with the recorded number but another start time and no run marker."""
    env = {k: v for k, v in os.environ.items() if k != "FLOWCTL_RUN_ID"}
    stranger = _stranger(env)
    try:
        start = start_ticks(stranger.pid)
        assert start is not None
        found = kill_leftovers([_event(stranger.pid, start + 1)], "r1")
        assert [(group.pgid, killed) for group, killed in found] == [(stranger.pid, False)]
        assert stranger.poll() is None and not process_gone(stranger.pid)
        # The same group proven the run's own (its leader's start time) is killed.
        found = kill_leftovers([_event(stranger.pid, start)], "r1")
        assert [killed for _, killed in found] == [True]
        assert stranger.wait(timeout=30) == -signal.SIGKILL
    finally:
        stranger.kill()
        stranger.wait()


def test_a_group_whose_member_carries_the_run_id_is_the_runs() -> None:
    stranger = _stranger({**os.environ, "FLOWCTL_RUN_ID": "r1"})
    try:
        # Another run's id proves nothing; this run's id does, whatever the start time.
        found = kill_leftovers([_event(stranger.pid, None)], "r2")
        assert [(group.pgid, killed) for group, killed in found] == [(stranger.pid, False)]
        assert stranger.poll() is None
        found = kill_leftovers([_event(stranger.pid, None)], "r1")
        assert [killed for _, killed in found] == [True]
        assert stranger.wait(timeout=30) == -signal.SIGKILL
    finally:
        stranger.kill()
        stranger.wait()
