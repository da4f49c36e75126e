"""SIGKILL at ten points of a run, then `flowctl resume`: completed work is never repeated.

One workflow (a chain, a fan-out, a for_each loop of 4 items, a parallel container, a join:
13 shell steps, each appending its qualified id to a counter file and then sleeping a
fixed 10-80 ms) is killed with SIGKILL (its whole process group), then resumed. The kill
points are events, not moments: right after the process starts, then after the journal
holds 0, 1, ..., 8 completed steps. The join waits for a release file that only the resume
gets, so no kill can come after the run's end however slow the machine. For every kill
point: resume exits 0; the journal parses (at most the torn line of the kill is lost);
every step that had `step_completed` before the resume ran exactly once; every step ran at
least once and at most twice (a step in flight at the kill runs again: at-least-once).
The long soak of many random kill points is a benchmark script, not a test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from flowctl.state.audit import read_journal
from tests.cli import wait_for
from tests.e2e.kit import Workspace, line_counts, q, seqs_increase

# None: kill as soon as the process is started (the run may not exist yet); n: kill once
# the journal holds n completed steps.
KILL_POINTS: tuple[int | None, ...] = (None, 0, 1, 2, 3, 4, 5, 6, 7, 8)
HANG_GUARD = 60.0  # seconds; only a broken flowctl gets near it

STEP_SLEEP_MS = {
    "c1": 30,
    "c2": 80,
    "c3": 20,
    "f1": 50,
    "f2": 10,
    "f3": 70,
    "work": 40,
    "p1": 60,
    "p2": 15,
    "join": 25,
}
LEAVES = {
    "c1",
    "c2",
    "c3",
    "f1",
    "f2",
    "f3",
    "each[0].work",
    "each[1].work",
    "each[2].work",
    "each[3].work",
    "p1",
    "p2",
    "join",
}


def command(step: str) -> str:
    run = f'echo "$FLOWCTL_STEP_ID" >> "$COUNTS"; sleep {STEP_SLEEP_MS[step] / 1000}'
    if step == "join":  # held until the resume: the killed run cannot have finished
        run = f'while [ ! -f "$RELEASE" ]; do sleep 0.01; done; {run}'
    return f"'{run}'"


def crash_spec(counts: Path, release: Path) -> str:
    return f"""
        name: crashy
        max_parallel_steps: 4
        optimization_enabled: false
        env: {{COUNTS: {q(counts)}, RELEASE: {q(release)}}}
        steps:
          - id: c1
            run: {command("c1")}
          - id: c2
            dependencies: [c1]
            run: {command("c2")}
          - id: c3
            dependencies: [c2]
            run: {command("c3")}
          - id: f1
            dependencies: [c1]
            run: {command("f1")}
          - id: f2
            dependencies: [c1]
            run: {command("f2")}
          - id: f3
            dependencies: [c1]
            run: {command("f3")}
          - id: each
            type: loop
            dependencies: [c2]
            loop:
              for_each: [0, 1, 2, 3]
              max_concurrency: 2
              steps:
                - id: work
                  run: {command("work")}
          - id: par
            type: parallel
            dependencies: [c1]
            parallel_steps:
              - id: p1
                run: {command("p1")}
              - id: p2
                run: {command("p2")}
          - id: join
            dependencies: [c3, f1, f2, f3, each, par]
            run: {command("join")}
        """


@dataclass
class Tally:
    before_run: int = 0  # killed before run_started was written: nothing to resume
    mid_run: int = 0
    torn: int = 0  # the kill tore the journal's last line
    in_flight_twice: int = 0  # steps that ran twice because they were in flight


def audit_of(ws: Workspace) -> Path | None:
    ids = ws.run_ids()
    return ws.files(next(iter(ids))).audit if len(ids) == 1 else None


def completed_steps(ws: Workspace) -> int:
    audit = audit_of(ws)
    if audit is None or not audit.exists():
        return -1
    events = read_journal(audit).events
    if not any(e.event == "run_started" for e in events):
        return -1
    return sum(1 for e in events if e.event == "step_completed" and e.step in LEAVES)


def kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=HANG_GUARD)


def crash_and_resume(ws: Workspace, point: int | None, tally: Tally) -> None:
    counts, release = ws.path("counts"), ws.path("release")
    proc = ws.start("run", str(ws.spec(crash_spec(counts, release))), output=False)
    if point is not None:
        wait_for(f"{point} completed steps", lambda: completed_steps(ws) >= point, HANG_GUARD, proc)
    kill_group(proc)

    audit = audit_of(ws)
    if audit is None or not audit.exists():
        tally.before_run += 1
        return
    before = ws.files(audit.parent.name).journal()
    assert not before.bad_lines, f"garbage in the middle of a killed journal: {before}"
    if not any(e.event == "run_started" for e in before.events):
        tally.before_run += 1
        return
    assert not any(e.event == "run_finished" for e in before.events), "the join was held"
    tally.mid_run += 1
    tally.torn += before.torn_tail
    done_before = {e.step for e in before.events if e.event == "step_completed"} & LEAVES

    release.touch()
    resumed = ws.resume(audit.parent.name)
    assert resumed.code == 0, f"kill at point {point}:\n{resumed.explain()}"
    after = resumed.run.journal()
    assert not after.torn_tail
    assert len(after.bad_lines) <= int(before.torn_tail), after.bad_lines
    assert seqs_increase(after.events)
    assert after.events[-1].event == "run_finished"
    assert after.events[-1].data["status"] == "completed"

    ran = line_counts(counts)
    assert set(ran) == LEAVES, f"kill at point {point}: missing {LEAVES - set(ran)}"
    repeated = {step: n for step, n in ran.items() if n != 1}
    assert not (repeated.keys() & done_before), (
        f"kill at point {point}: completed steps ran again: {repeated}"
    )
    assert all(n <= 2 for n in repeated.values()), repeated
    tally.in_flight_twice += len(repeated)


@pytest.mark.slow
@pytest.mark.parametrize(
    "point", KILL_POINTS, ids=lambda p: "at-start" if p is None else f"after-{p}"
)
def test_sigkill_then_resume_completes_without_repeating_work(
    ws: Workspace, point: int | None
) -> None:
    tally = Tally()
    crash_and_resume(ws, point, tally)
    if point is not None:  # the journal held `point` completed steps: the run existed
        assert tally.mid_run == 1, tally
