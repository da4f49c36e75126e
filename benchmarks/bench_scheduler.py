"""Scheduler benchmarks: python-step chain and fan-out, a sleep DAG, a 10,000-step DAG's RSS.

    .venv/bin/python benchmarks/bench_scheduler.py [--quick]

Targets (H6a brief): 1,000 no-op python steps as a chain and as a fan-out at
max_parallel_steps 10 in under 0.5 s of scheduling each (audit log on, progress off);
a DAG of sleeping steps within 5% + 50 ms of its critical path; a 10,000-step DAG with
peak RSS under 300 MB. "Scheduling" is the run itself (arun_workflow): the spec is loaded
and checked before the clock starts, and the history line and report.json are included.
The specs set `optimization_enabled: false`; the cost of the end-of-run optimization
analysis (flowctl.optimize) is measured on its own line.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NOOP = "benchmarks.bench_funcs:noop"
SLEEP = "benchmarks.bench_funcs:sleep"


def _funcs(directory: Path) -> None:
    (directory / "benchmarks").mkdir(exist_ok=True)
    (directory / "benchmarks" / "__init__.py").write_text("")
    (directory / "benchmarks" / "bench_funcs.py").write_text(
        "import asyncio\n"
        "async def noop():\n    return {}\n"
        "async def sleep(seconds):\n    await asyncio.sleep(seconds)\n    return {}\n"
    )


def chain_spec(n: int) -> str:
    lines = ["name: chain", "max_parallel_steps: 10", "optimization_enabled: false", "steps:"]
    for i in range(n):
        lines += [f"  - id: s{i}", f"    python: {NOOP}"]
        if i:
            lines.append(f"    dependencies: [s{i - 1}]")
    return "\n".join(lines) + "\n"


def fanout_spec(n: int) -> str:
    lines = ["name: fanout", "max_parallel_steps: 10", "optimization_enabled: false", "steps:"]
    lines += ["  - id: root", f"    python: {NOOP}"]
    for i in range(n - 1):
        lines += [f"  - id: s{i}", f"    python: {NOOP}", "    dependencies: [root]"]
    return "\n".join(lines) + "\n"


def random_dag(n: int, deps: int, seed: int) -> list[tuple[str, list[str]]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        parents = sorted({rng.randrange(i) for _ in range(deps)}) if i else []
        out.append((f"s{i}", [f"s{p}" for p in parents]))
    return out


def dag_spec(
    name: str, dag: list[tuple[str, list[str]]], limit: int, sleeps: dict[str, float]
) -> str:
    lines = [f"name: {name}", f"max_parallel_steps: {limit}", "optimization_enabled: false"]
    lines.append("steps:")
    for sid, parents in dag:
        lines.append(f"  - id: {sid}")
        if sid in sleeps:
            lines += [f"    python: {SLEEP}", f'    input_mapping: {{seconds: "{sleeps[sid]}"}}']
        else:
            lines.append(f"    python: {NOOP}")
        if parents:
            lines.append(f"    dependencies: [{', '.join(parents)}]")
    return "\n".join(lines) + "\n"


def timed_run(spec: Path, state: Path, **options: object) -> tuple[float, float, object]:
    from flowctl.api import run_workflow
    from flowctl.spec.load import load_workflow

    t0 = time.perf_counter()
    wf = load_workflow(spec)
    loaded = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = run_workflow(wf, state_dir=state, **options)  # type: ignore[arg-type]
    return loaded, time.perf_counter() - t1, result


def bench_python_steps(work: Path, n: int) -> None:
    for name, text in (("chain", chain_spec(n)), ("fan-out", fanout_spec(n))):
        spec = work / f"{name}.yaml"
        spec.write_text(text)
        best = float("inf")
        for _ in range(3):
            loaded, took, result = timed_run(spec, work / "state")
            assert result.ok, result.error  # type: ignore[attr-defined]
            best = min(best, took)
        print(
            f"{n} no-op python steps, {name:7}: run {best * 1000:7.1f} ms "
            f"({best / n * 1e6:5.1f} µs/step; load+check {loaded * 1000:.0f} ms) "
            f"target < 500 ms: {'ok' if best < 0.5 else 'MISSED'}"
        )


def bench_progress(work: Path, n: int) -> None:
    """The same chain with the Rich live view drawing (to a terminal-like console) or not.

    Measured twice: as users get it (the table appears once the run has lasted
    APPEAR_AFTER, so a run this short shows only its final frame), and drawn from the first
    event on (appear_after=0), which is what a longer run pays while it draws.
    """
    import io
    import statistics

    from rich.console import Console

    from flowctl.progress import LiveProgress

    spec = work / "chain.yaml"
    spec.write_text(chain_spec(n))
    for label, appear_after in (("as shipped", None), ("drawn from the start", 0.0)):
        off: list[float] = []
        on: list[float] = []
        for _ in range(9):  # interleaved, so drift of the machine hits both alike
            off.append(timed_run(spec, work / "state")[1])
            console = Console(file=io.StringIO(), force_terminal=True, width=120, height=40)
            options = {} if appear_after is None else {"appear_after": appear_after}
            with LiveProgress(console, **options) as view:  # type: ignore[arg-type]
                on.append(timed_run(spec, work / "state", observers=(view,))[1])
        a, b = statistics.median(off), statistics.median(on)
        overhead = 100 * (b - a) / a
        print(
            f"{n}-step chain, live view {label}: {b * 1000:.1f} ms vs {a * 1000:.1f} ms off "
            f"(medians of 9): {overhead:+.1f}% (target <= 15%: "
            f"{'ok' if overhead <= 15 else 'MISSED'})"
        )


def bench_optimization(work: Path, n: int) -> None:
    """The same chain with `optimization_enabled: true`: report.json gets the analysis."""
    spec = work / "chain-opt.yaml"
    spec.write_text(
        chain_spec(n).replace("optimization_enabled: false", "optimization_enabled: true")
    )
    for runs in (1, 2):
        _, took, result = timed_run(spec, work / "state-opt")
        assert result.ok  # type: ignore[attr-defined]
        print(f"{n}-step chain with optimization_enabled, history of {runs} run(s): {took:.2f} s")


def bench_sleep_dag(work: Path, n: int) -> None:
    from flowctl.graph import critical_path
    from flowctl.spec.load import load_workflow

    rng = random.Random(7)
    dag = random_dag(n, 2, seed=3)
    sleeps = {sid: round(rng.uniform(0.02, 0.1), 3) for sid, _ in dag}
    spec = work / "sleepdag.yaml"
    spec.write_text(dag_spec("sleepdag", dag, n, sleeps))
    wf = load_workflow(spec)
    path, length = critical_path(wf.steps, sleeps)
    _, took, result = timed_run(spec, work / "state")
    assert result.ok  # type: ignore[attr-defined]
    allowed = length * 1.05 + 0.05
    print(
        f"sleep DAG of {n} steps: makespan {took * 1000:.0f} ms, critical path "
        f"{length * 1000:.0f} ms ({len(path)} steps), overhead {(took - length) * 1000:.0f} ms; "
        f"allowed {allowed * 1000:.0f} ms: {'ok' if took <= allowed else 'MISSED'}"
    )


def bench_big_dag(work: Path, n: int) -> None:
    spec = work / "big.yaml"
    spec.write_text(dag_spec("big", random_dag(n, 2, seed=11), 10, {}))
    code = (
        "import json, resource, sys, time\n"
        f"sys.path.insert(0, {str(REPO)!r}); sys.path.insert(0, {str(work)!r})\n"
        "from flowctl.spec.load import load_workflow\n"
        "from flowctl.api import run_workflow\n"
        "t0 = time.perf_counter()\n"
        f"wf = load_workflow(__import__('pathlib').Path({str(spec)!r}))\n"
        "t1 = time.perf_counter()\n"
        f"r = run_workflow(wf, state_dir={str(work / 'state')!r})\n"
        "t2 = time.perf_counter()\n"
        "assert r.ok, r.error\n"
        "print(json.dumps({'load': t1 - t0, 'run': t2 - t1,\n"
        "  'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=work, capture_output=True, text=True, check=True
    )
    numbers = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"{n}-step DAG (2 deps/step, max_parallel 10): run {numbers['run']:.2f} s "
        f"({numbers['run'] / n * 1e6:.0f} µs/step), load+check {numbers['load']:.2f} s, "
        f"peak RSS {numbers['rss_mb']:.0f} MB; target < 300 MB: "
        f"{'ok' if numbers['rss_mb'] < 300 else 'MISSED'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _funcs(work)
        sys.path.insert(0, str(work))
        bench_python_steps(work, 200 if args.quick else 1000)
        bench_progress(work, 200 if args.quick else 1000)
        bench_optimization(work, 200 if args.quick else 1000)
        bench_sleep_dag(work, 30 if args.quick else 60)
        bench_big_dag(work, 1000 if args.quick else 10_000)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(this process peak RSS {peak:.0f} MB)")


if __name__ == "__main__":
    main()
