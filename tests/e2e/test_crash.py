"""SIGKILL at many points of a run, then `flowctl resume`: completed work is never repeated.

One workflow (a chain, a fan-out, a for_each loop of 4 items, a parallel container, a join:
13 shell steps, each appending its qualified id to a counter file and then sleeping a
fixed 10-80 ms) is killed with SIGKILL (its whole process group) at seeded random moments,
then resumed. For every kill point: resume exits 0; the journal parses (at most the torn
line of the kill is lost); every step that had `step_completed` before the resume ran
exactly once; every step ran at least once and at most twice (a step in flight at the kill
runs again: at-least-once).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tests.e2e.kit import Workspace, line_counts, q, seqs_increase

SEED = 1234
KILL_POINTS = 50
MIN_MID_RUN = 35  # of which at least this many (most) must land inside a run
EARLY_EVERY = 10  # every 10th point is timed from process start: it may hit start-up

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
    return f'\'echo "$FLOWCTL_STEP_ID" >> "$COUNTS"; sleep {STEP_SLEEP_MS[step] / 1000}\''


def crash_spec(counts: Path) -> str:
    return f"""
        name: crashy
        max_parallel_steps: 4
        optimization_enabled: false
        env: {{COUNTS: {q(counts)}}}
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
    after_finish: int = 0  # the run had finished (or was finishing) when the kill came
    torn: int = 0  # the kill tore the journal's last line
    in_flight_twice: int = 0  # steps that ran twice because they were in flight
    delays: list[float] = field(default_factory=list)


def epoch(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def audit_of(ws: Workspace) -> Path | None:
    ids = ws.run_ids()
    return ws.files(next(iter(ids))).audit if len(ids) == 1 else None


def journal_started(ws: Workspace) -> bool:
    audit = audit_of(ws)
    return audit is not None and audit.exists() and audit.stat().st_size > 0


def start_run(ws: Workspace) -> tuple[subprocess.Popen[str], Path]:
    counts = ws.path("counts")
    spec = ws.spec(crash_spec(counts))
    return ws.start("run", str(spec), output=False), counts


def wait_for_journal(ws: Workspace, proc: subprocess.Popen[str]) -> None:
    """Return as soon as the run's journal has content (or the process is gone)."""
    deadline = time.monotonic() + 20
    while not journal_started(ws) and proc.poll() is None:
        assert time.monotonic() < deadline, "no journal after 20 s"
        time.sleep(0.002)


def calibrate(ws: Workspace) -> tuple[float, float]:
    """A normal run: (start-up until the journal appears, run_started to run_finished)."""
    began = time.monotonic()
    proc, counts = start_run(ws)
    wait_for_journal(ws, proc)
    startup = time.monotonic() - began
    assert proc.wait(timeout=30) == 0
    assert line_counts(counts) == dict.fromkeys(LEAVES, 1)
    events = ws.only_run().events()
    return startup, epoch(events[-1].ts) - epoch(events[0].ts)


def kill_group(proc: subprocess.Popen[str]) -> bool:
    """SIGKILL the process group of `proc`; False when it had already exited."""
    exited = proc.poll() is not None
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        exited = True
    proc.wait(timeout=10)
    return not exited


def crash_and_resume(ws: Workspace, delay: float, early: bool, tally: Tally) -> None:
    proc, counts = start_run(ws)
    if not early:
        wait_for_journal(ws, proc)
    time.sleep(delay)
    killed = kill_group(proc)

    audit = audit_of(ws)
    if audit is None or not audit.exists():
        tally.before_run += 1
        return
    before = ws.files(audit.parent.name).journal()
    assert not before.bad_lines, f"garbage in the middle of a killed journal: {before}"
    if not any(e.event == "run_started" for e in before.events):
        tally.before_run += 1
        return
    finished = any(e.event == "run_finished" for e in before.events)
    if finished or not killed:
        tally.after_finish += 1
    else:
        tally.mid_run += 1
    tally.torn += before.torn_tail
    done_before = {e.step for e in before.events if e.event == "step_completed"} & LEAVES

    resumed = ws.resume(audit.parent.name)
    assert resumed.code == 0, f"kill after {delay:.3f} s:\n{resumed.explain()}"
    after = resumed.run.journal()
    assert not after.torn_tail
    assert len(after.bad_lines) <= int(before.torn_tail), after.bad_lines
    assert seqs_increase(after.events)
    assert after.events[-1].event == "run_finished"
    assert after.events[-1].data["status"] == "completed"

    ran = line_counts(counts)
    assert set(ran) == LEAVES, f"kill after {delay:.3f} s: missing {LEAVES - set(ran)}"
    repeated = {step: n for step, n in ran.items() if n != 1}
    assert not (repeated.keys() & done_before), (
        f"kill after {delay:.3f} s: completed steps ran again: {repeated}"
    )
    assert all(n <= 2 for n in repeated.values()), repeated
    tally.in_flight_twice += len(repeated)


def test_sigkill_at_many_points_then_resume_completes_without_repeating_work(
    tmp_path: Path,
) -> None:
    calibration = Workspace(tmp_path / "calibration")
    calibration.root.mkdir()
    try:
        startup, duration = calibrate(calibration)
    finally:
        calibration.close()
    rng = random.Random(SEED)
    tally = Tally()
    for point in range(1, KILL_POINTS + 1):
        ws = Workspace(tmp_path / f"point{point:02d}")
        ws.root.mkdir()
        early = point % EARLY_EVERY == 0
        # Early points are timed from process start (some die before the run exists);
        # the others from the moment the journal appears, spread over a normal run.
        delay = rng.uniform(0, startup * 1.2) if early else rng.uniform(0, duration * 1.05)
        tally.delays.append(delay)
        try:
            crash_and_resume(ws, delay, early, tally)
        finally:
            ws.close()
    print(
        f"crash test: {KILL_POINTS} kill points ({tally.mid_run} mid-run, {tally.before_run} "
        f"before the run existed, {tally.after_finish} at or after its end, {tally.torn} torn last "
        f"lines); {tally.in_flight_twice} in-flight steps ran twice; normal run "
        f"{duration:.2f} s after {startup:.2f} s start-up"
    )
    assert tally.mid_run >= MIN_MID_RUN, tally
