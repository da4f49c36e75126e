"""Kill soak (issue 14): random `kill -9` points, each resumed to completion and checked.

    .venv/bin/python benchmarks/kill_soak.py [--points 1000] [--seed 14] [--jobs 1]

The workflow has a chain, a fan-out, a for_each loop, a step that fails its first attempt
and is retried, and a cached step. For each point a fresh project directory gets a run that
is SIGKILLed (its whole process group: flowctl and its shell steps, as a lost CI machine
would) at a random moment between start-up and a little after the run normally ends; then
`flowctl resume` (or a new `run`, when the kill came before the run existed) is repeated
until the run has completed. Checked for every point:

- no step that had `step_completed` in the journal before the kill ran again (its counter
  line appears once), and no step is started after it completed;
- the final journal has no torn or garbage line;
- history.jsonl has a record of the run with status `completed`;
- the run's workflow data (report.json) equals that of an uninterrupted run.

`--jobs J` runs J points at once, each in its own temporary project directory; the kill
window is measured with J uninterrupted runs at once, as the points run. A flowctl
command that hangs (a guard of 60 s) or prints a traceback is a failure of its point; an
exception of this script is counted too, as a `harness error`, so nothing ends the soak
early. The last lines are every failure (point, kill moment, what went wrong) and
`PASS (N points, 0 failures)` or `FAIL: K failures (N points, K failures)`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.kit import Workspace, line_counts, q  # noqa: E402

KILL_REAP_TIMEOUT = 30.0  # seconds for a SIGKILLed process group to be reaped (a hang guard)

LEAVES = {
    "c1",
    "c2",
    "f1",
    "f2",
    "f3",
    "each[0].work",
    "each[1].work",
    "each[2].work",
    "flaky",
    "cached",
    "join",
}


def spec_text(ws: Workspace) -> str:
    counts, mark = q(ws.path("counts")), q(ws.path("flaky-failed-once"))
    count = 'echo "$FLOWCTL_STEP_ID" >> "$COUNTS"'
    return f"""
        name: soak
        max_parallel_steps: 4
        optimization_enabled: false
        env: {{COUNTS: {counts}}}
        steps:
          - id: c1
            run: '{count}; sleep 0.03; echo "v=1" >> "$FLOWCTL_OUTPUT"'
            output_mapping: {{result.v: workflow.c1}}
          - id: c2
            dependencies: [c1]
            run: '{count}; sleep 0.05'
          - id: f1
            dependencies: [c1]
            run: '{count}; sleep 0.02'
          - id: f2
            dependencies: [c1]
            run: '{count}; sleep 0.04'
          - id: f3
            dependencies: [c1]
            run: '{count}; sleep 0.01'
          - id: each
            type: loop
            dependencies: [c2]
            loop:
              for_each: [0, 1, 2]
              max_concurrency: 2
              steps:
                - id: work
                  run: >-
                    {count}; sleep 0.03;
                    echo "sq=$((FLOWCTL_PARAM_I * FLOWCTL_PARAM_I))" >> "$FLOWCTL_OUTPUT"
                  input_mapping: {{i: item}}
          - id: flaky
            dependencies: [f1]
            retry_policy: {{max_attempts: 3, delay: 10ms}}
            run: >-
              test -f {mark} || {{ touch {mark}; exit 1; }};
              {count}; echo "ok=yes" >> "$FLOWCTL_OUTPUT"
            output_mapping: {{result.ok: workflow.flaky}}
          - id: cached
            dependencies: [f2]
            cache: {{key: soak-cached}}
            run: '{count}; sleep 0.02; echo "c=42" >> "$FLOWCTL_OUTPUT"'
            output_mapping: {{result.c: workflow.cached}}
          - id: join
            dependencies: [each, flaky, cached, f3]
            run: '{count}; echo "done=1" >> "$FLOWCTL_OUTPUT"'
            output_mapping: {{result.done: workflow.done}}
        """


def completed_run(ws: Workspace) -> tuple[str | None, dict[str, object]]:
    ids = ws.run_ids()
    if len(ids) != 1:
        return None, {}
    run = ws.files(next(iter(ids)))
    if not run.audit.exists():
        return run.run_id, {}
    events = run.journal().events
    if (
        events
        and events[-1].event == "run_finished"
        and events[-1].data.get("status") == "completed"
    ):
        report = run.dir / "report.json"
        if report.exists():
            return run.run_id, json.loads(report.read_text())
    return run.run_id, {}


def one_point(
    root: Path, delay: float, baseline: dict[str, object] | None
) -> tuple[list[str], dict[str, object]]:
    """Kill a run at `delay` seconds, resume it to completion, and list what went wrong.

    A flowctl command that hangs, prints a traceback or leaves the state directory in a
    shape the kit refuses is a problem of the point, said in words, never an exception
    that would end the soak.
    """
    try:
        return _one_point(root, delay, baseline)
    except subprocess.TimeoutExpired as exc:
        return [f"hang: {' '.join(map(str, exc.cmd[2:4]))} ran over {exc.timeout:.0f} s"], {}
    except AssertionError as exc:  # the kit's checks: a traceback, two runs, a moved run
        return [f"flowctl misbehaved: {_tail(str(exc))}"], {}


def _started(ws: Workspace, run_id: str) -> bool:
    """Whether the run's journal holds its run_started line (resume needs it)."""
    audit = ws.files(run_id).audit
    if not audit.exists():
        return False
    return any(e.event == "run_started" for e in ws.files(run_id).journal().events)


def _tail(text: str, size: int = 600) -> str:
    text = " | ".join(line for line in text.strip().splitlines() if line.strip())
    return text if len(text) <= size else "..." + text[-size:]


def _one_point(
    root: Path, delay: float, baseline: dict[str, object] | None
) -> tuple[list[str], dict[str, object]]:
    ws = Workspace(root)
    spec = ws.spec(spec_text(ws))
    problems: list[str] = []
    proc = ws.start("run", str(spec), output=False)
    try:
        time.sleep(delay)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=KILL_REAP_TIMEOUT)
    finally:
        ws.close()
    run_id, report = completed_run(ws)
    done_before: set[str] = set()
    if run_id is not None and ws.files(run_id).audit.exists():
        before = ws.files(run_id).journal()
        if before.bad_lines:
            problems.append(f"garbage lines after the kill: {before.bad_lines}")
        done_before = {e.step for e in before.events if e.event == "step_completed" and e.step}
    for _attempt in range(3):
        if report:
            break
        if run_id is None or not _started(ws, run_id):
            # Killed before run_started reached the journal: there is nothing to resume
            # (resume says so, exit 2), so start over as a user would.
            for stale in ws.run_ids():
                shutil.rmtree(ws.files(stale).dir)
            done = ws.run(spec)
        else:
            done = ws.resume(run_id)
        if done.code != 0:
            problems.append(f"{done.argv[3]} exited {done.code}: {_tail(done.stderr, 300)}")
        run_id, report = completed_run(ws)
    if not report:
        return [*problems, "the run never completed"], {}
    assert run_id is not None
    run = ws.files(run_id)
    final = run.journal()
    if final.bad_lines or final.torn_tail:
        problems.append(f"final journal: bad lines {final.bad_lines}, torn {final.torn_tail}")
    counts = line_counts(ws.path("counts"))
    for step in sorted(done_before & LEAVES):
        if counts[step] != 1:
            problems.append(f"{step} completed before the kill but ran {counts[step]} times")
    last_completed: dict[str, int] = {}
    for n, event in enumerate(final.events):
        if event.step is None:
            continue
        if event.event == "step_completed":
            last_completed[event.step] = n
        elif event.event == "step_started" and event.step in last_completed:
            problems.append(f"{event.step} started again after it completed")
    missing = LEAVES - set(counts) - {"cached"}  # a cache hit does not run the command
    if missing:
        problems.append(f"never ran: {sorted(missing)}")
    history, unreadable = ws_history(ws)
    if unreadable:
        problems.append(f"history.jsonl: unreadable lines {unreadable}")
    mine = [r for r in history if r.get("run_id") == run_id]
    if not any(r.get("status") == "completed" for r in mine):
        problems.append("no completed history record for the run")
    if len(mine) != 1:
        problems.append(f"{len(mine)} history records for the run, not 1")
    if baseline is not None and report.get("workflow_data") != baseline.get("workflow_data"):
        problems.append(
            f"workflow data {report.get('workflow_data')} != {baseline.get('workflow_data')}"
        )
    return problems, report


def ws_history(ws: Workspace) -> tuple[list[dict[str, Any]], list[int]]:
    """history.jsonl's records, and the 1-based numbers of lines that are not one."""
    path = ws.state / "history.jsonl"
    if not path.exists():
        return [], []
    records: list[dict[str, Any]] = []
    unreadable: list[int] = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        else:
            unreadable.append(number)
    return records, unreadable


def baseline_run(root: Path) -> tuple[float, dict[str, object]]:
    """One uninterrupted run: its wall time (start-up to exit) and its report."""
    ws = Workspace(root)
    root.mkdir()
    spec = ws.spec(spec_text(ws))
    began = time.monotonic()
    first = ws.run(spec)
    took = time.monotonic() - began
    assert first.code == 0, first.explain()
    _, report = completed_run(ws)
    assert report, "the uninterrupted run left no report"
    return took, report


def soak_point(tmp: Path, point: int, delay: float, baseline: dict[str, object]) -> list[str]:
    root = tmp / f"p{point}"  # each point (so each job) in its own directory
    root.mkdir()
    try:
        problems, _ = one_point(root, delay, baseline)
    except Exception:  # a bug of this harness: said, with where, and counted apart
        problems = [f"harness error: {_tail(traceback.format_exc(), 1200)}"]
    shutil.rmtree(root, ignore_errors=True)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument(
        "--jobs", type=int, default=1, help="points run at the same time (default 1)"
    )
    args = parser.parse_args()
    if args.points < 1 or args.jobs < 1:
        parser.error("--points and --jobs must be at least 1")
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="flowctl-soak-") as name:
        tmp = Path(name)
        began = time.monotonic()
        # The kill window is measured with `jobs` runs at once, as the points will run.
        with ThreadPoolExecutor(args.jobs) as pool:
            warm = list(pool.map(lambda j: baseline_run(tmp / f"baseline{j}"), range(args.jobs)))
        span = max(took for took, _ in warm)
        baseline = warm[0][1]
        delays = [rng.uniform(0.0, span * 1.15) for _ in range(args.points)]
        failures: list[tuple[int, float, str]] = []
        done = 0
        with ThreadPoolExecutor(args.jobs) as pool:
            futures = {
                pool.submit(soak_point, tmp, point, delay, baseline): (point, delay)
                for point, delay in enumerate(delays)
            }
            for future in as_completed(futures):
                point, delay = futures[future]
                failures += [(point, delay, problem) for problem in future.result()]
                done += 1
                if done % 50 == 0:
                    print(f"{done}/{args.points} points, {len(failures)} failures", flush=True)
        took = time.monotonic() - began
    failures.sort()
    harness = sum(1 for *_, problem in failures if problem.startswith("harness error"))
    by_kind = Counter(problem.split(":")[0][:60] for *_, problem in failures)
    print(
        json.dumps(
            {
                "points": args.points,
                "jobs": args.jobs,
                "seed": args.seed,
                "run_span_s": round(span, 3),
                "seconds": round(took, 1),
                "failed_points": len({point for point, _, _ in failures}),
                "failures": len(failures),
                "harness_errors": harness,
                "by_kind": by_kind,
            },
            indent=2,
        )
    )
    for point, delay, problem in failures:
        print(f"FAILURE point {point} (seed {args.seed}, kill at {delay:.3f} s): {problem}")
    verdict = "PASS" if not failures else f"FAIL: {len(failures)} failures"
    print(f"{verdict} ({args.points} points, {len(failures)} failures)")
    return 0 if not failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
