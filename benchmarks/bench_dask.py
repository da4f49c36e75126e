"""--executor dask benchmarks: CPU-bound speedup over local threads, and dispatch overhead.

    .venv/bin/python benchmarks/bench_dask.py [--workers N] [--quick]

Targets (issue 13):
- 16 CPU-bound python steps of about 1 s of pure-Python work each: `--executor dask` with
  N worker processes on N cores runs them at least 0.8 x N times faster than the local
  executor (whose threads share one GIL).
- 1,000 no-op python steps on a LocalCluster, as a chain and as a fan-out: flowctl's run
  takes at most 1.5x the time of submitting the same 1,000 no-op tasks with
  `Client.submit` directly (the chain awaits each task before submitting the next, as a
  dependent step must; the fan-out submits all, then gathers).
The cluster is started once, before the clocks; the run with flowctl's own LocalCluster
(start-up and close included) is reported on a line of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FUNCS = """\
import time


def spin(iterations):
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return {"total": total}


def noop():
    return {}
"""


def _calibrate(seconds: float) -> int:
    """Loop iterations of `spin` that take about `seconds` on this machine, alone."""
    sys.path.insert(0, str(WORK))
    from bench_dask_funcs import spin  # type: ignore[import-not-found]

    n = 200_000
    while True:
        began = time.perf_counter()
        spin(n)
        took = time.perf_counter() - began
        if took > 0.2:
            return int(n * seconds / took)
        n *= 2


def _cpu_spec(steps: int, iterations: int) -> str:
    lines = ["name: cpu", f"max_parallel_steps: {steps}", "optimization_enabled: false"]
    lines.append("steps:")
    for i in range(steps):
        lines += [
            f"  - id: spin{i}",
            "    python: bench_dask_funcs:spin",
            f"    input_mapping: {{iterations: {iterations}}}",
            "    timeout: 10m",
        ]
    return "\n".join(lines) + "\n"


def _noop_spec(name: str, n: int, *, chain: bool) -> str:
    lines = [f"name: {name}", f"max_parallel_steps: {n}", "optimization_enabled: false"]
    lines.append("steps:")
    for i in range(n):
        lines += [f"  - id: s{i}", "    python: bench_dask_funcs:noop"]
        if chain and i:
            lines.append(f"    dependencies: [s{i - 1}]")
    return "\n".join(lines) + "\n"


def _run(spec: Path, executor: Any) -> float:
    from flowctl.runner.session import run_workflow

    began = time.perf_counter()
    result = run_workflow(
        spec,
        state_dir=WORK / "state",
        workdir=WORK,
        executor=executor,
        record_history=False,
        durable=True,
    )
    took = time.perf_counter() - began
    assert result.status.value == "completed", result.error
    return took


async def _plain(address: str, n: int, *, chain: bool) -> float:
    import distributed

    async with distributed.Client(address, asynchronous=True) as client:
        await client.upload_file(str(WORK / "bench_dask_funcs.py"), load=False)
        from bench_dask_funcs import noop

        began = time.perf_counter()
        if chain:
            for _ in range(n):
                await client.submit(noop, pure=False)
        else:
            await client.gather([client.submit(noop, pure=False) for _ in range(n)])
        return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="8 steps of 0.5 s, 200 no-ops")
    args = parser.parse_args()
    import dask
    import distributed

    from flowctl.runner.executors.api import LOCAL, ExecutorChoice, ExecutorKind

    (WORK / "bench_dask_funcs.py").write_text(FUNCS)
    steps, seconds, noops = (8, 0.5, 200) if args.quick else (16, 1.0, 1000)
    iterations = _calibrate(seconds)
    n = args.workers
    print(f"{os.cpu_count()} cores, {n} workers, load average {os.getloadavg()[0]:.1f}")

    cpu = WORK / "cpu.yaml"
    cpu.write_text(_cpu_spec(steps, iterations))
    local = _run(cpu, LOCAL)
    print(f"{steps} CPU-bound steps of ~{seconds:g} s, local executor: {local:.2f} s")

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: 8787 may be taken
            silence_logs=logging.ERROR,
        )
    try:
        on = ExecutorChoice(kind=ExecutorKind.DASK, scheduler=cluster.scheduler_address)
        remote = _run(cpu, on)
        speedup = local / remote
        print(
            f"same on a {n}-worker LocalCluster: {remote:.2f} s, speedup {speedup:.2f}x "
            f"(target >= {0.8 * n:.1f}x): {'ok' if speedup >= 0.8 * n else 'MISSED'}"
        )
        for shape in ("chain", "fanout"):
            chain = shape == "chain"
            spec = WORK / f"{shape}.yaml"
            spec.write_text(_noop_spec(shape, noops, chain=chain))
            _run(spec, on)  # warm: modules imported on the workers, caches filled
            ours = min(_run(spec, on) for _ in range(3))
            plain = min(
                asyncio.run(_plain(cluster.scheduler_address, noops, chain=chain)) for _ in range(3)
            )
            ratio = ours / plain
            print(
                f"{noops} no-op python steps, {shape}: flowctl {ours:.3f} s, "
                f"Client.submit {plain:.3f} s: {ratio:.2f}x (target <= 1.5x): "
                f"{'ok' if ratio <= 1.5 else 'MISSED'}"
            )
    finally:
        cluster.close()
    own = ExecutorChoice(kind=ExecutorKind.DASK, workers=n)
    whole = _run(cpu, own)
    print(f"CPU-bound steps on flowctl's own {n}-worker LocalCluster (start, close): {whole:.2f} s")


WORK = Path(tempfile.mkdtemp(prefix="flowctl-bench-dask-"))

if __name__ == "__main__":
    main()
