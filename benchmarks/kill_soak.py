"""Kill soak (issue 14): random `kill -9` points, each resumed to completion and checked.

    .venv/bin/python benchmarks/kill_soak.py [--points 1000] [--seed 14]

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
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.kit import Workspace, line_counts, q  # noqa: E402

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
    ws = Workspace(root)
    spec = ws.spec(spec_text(ws))
    problems: list[str] = []
    proc = ws.start("run", str(spec), output=False)
    time.sleep(delay)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
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
        if run_id is None or not ws.files(run_id).audit.exists():
            for stale in ws.run_ids():
                shutil.rmtree(ws.files(stale).dir)  # killed before the journal: start over
            done = ws.run(spec)
        else:
            done = ws.resume(run_id)
        if done.code != 0:
            problems.append(f"{done.argv[3]} exited {done.code}: {done.stderr[-300:]}")
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
    history = [r for r in ws_history(ws) if r.get("run_id") == run_id]
    if not any(r.get("status") == "completed" for r in history):
        problems.append("no completed history record for the run")
    if baseline is not None and report.get("workflow_data") != baseline.get("workflow_data"):
        problems.append(
            f"workflow data {report.get('workflow_data')} != {baseline.get('workflow_data')}"
        )
    return problems, report


def ws_history(ws: Workspace) -> list[dict[str, object]]:
    path = ws.state / "history.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        began = time.monotonic()
        clean = Workspace(Path(tmp) / "baseline")
        clean.root.mkdir()
        spec = clean.spec(spec_text(clean))
        first = clean.run(spec)
        assert first.code == 0, first.explain()
        _, baseline = completed_run(clean)
        span = time.monotonic() - began  # start-up plus the whole run
        failures: Counter[str] = Counter()
        examples: dict[str, str] = {}
        for point in range(args.points):
            delay = rng.uniform(0.0, span * 1.15)
            root = Path(tmp) / f"p{point}"
            root.mkdir()
            problems, _ = one_point(root, delay, baseline)
            for problem in problems:
                kind = problem.split(":")[0][:60]
                failures[kind] += 1
                examples.setdefault(kind, f"point {point} (kill at {delay:.3f} s): {problem}")
            shutil.rmtree(root, ignore_errors=True)
        took = time.monotonic() - began
    total = sum(failures.values())
    print(
        json.dumps(
            {
                "points": args.points,
                "seed": args.seed,
                "run_span_s": round(span, 3),
                "seconds": round(took, 1),
                "failures": total,
                "by_kind": failures,
            },
            indent=2,
        )
    )
    for text in examples.values():
        print(text)
    print("PASS" if total == 0 else f"FAIL: {total} failures")
    return 0 if total == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
