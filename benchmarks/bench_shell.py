"""Per-step cost of shell steps against GNU make, at parallelism 8.

The per-step cost is the slope of wall time between N=200 and N=2,000 independent `true`
steps, so fixed costs (interpreter start, loading the spec) cancel out. Measured:
  make       `make -j8 -f F all` over N phony targets each running `true`
  executor   flowctl's action executor alone, driven by an asyncio semaphore of 8
             (also with the no-shell fast path disabled, and for an external command,
             `cat /dev/null`, to show what exec-without-a-shell is worth)
  run        the whole `flowctl.api.run_workflow` (scheduler, audit log, logs; no progress)
Each line also shows this process's own CPU per step (children excluded): flowctl's Python
work, which other load on the machine disturbs far less than wall time.

Usage: .venv/bin/python benchmarks/bench_shell.py [--repeat 3] [--sizes 200 2000] [--no-run]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flowctl.errors import Location
from flowctl.runner.steps import action
from flowctl.runner.steps.base import StepContext
from flowctl.secrets import SecretMasker
from flowctl.spec.model import ActionStep, ShellCommand, StepType

PARALLEL = 8


def time_make(n: int, workdir: Path) -> float:
    makefile = workdir / f"Makefile.{n}"
    targets = " ".join(f"t{i}" for i in range(n))
    lines = [f".PHONY: all {targets}", f"all: {targets}"]
    lines += [f"t{i}:\n\t@true" for i in range(n)]
    makefile.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    subprocess.run(["make", "-s", f"-j{PARALLEL}", "-f", str(makefile), "all"], check=True)
    return time.perf_counter() - started


class _NullLog:
    path = Path(os.devnull)

    def write(self, text: str) -> None:
        pass


def time_executor(n: int, workdir: Path, command: str = "true") -> float:
    masker = SecretMasker()

    async def client() -> object:
        raise AssertionError("no HTTP here")

    def context(i: int) -> StepContext:
        step = ActionStep(
            id=f"s{i}",
            type=StepType.ACTION,
            location=Location("bench.yaml", 1, 1),
            command=ShellCommand(run=command),
        )
        # The scheduler gives every attempt a fresh scratch directory; one shared here
        # keeps mkdir out of the executor's numbers.
        return StepContext(
            step=step,
            qualified_id=step.id,
            run_id="bench",
            attempt=1,
            params={},
            names={"params": {}},
            env={},
            log=_NullLog(),
            masker=masker,
            workdir=workdir,
            scratch=workdir,
            timeout=60.0,
            idempotency_key=f"bench/{step.id}",
            http_client=client,  # type: ignore[arg-type]
        )

    async def main() -> None:
        gate = asyncio.Semaphore(PARALLEL)

        async def one(i: int) -> None:
            async with gate:
                await action.EXECUTOR.execute(context(i))

        await asyncio.gather(*(one(i) for i in range(n)))

    started = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - started


def time_run(n: int, workdir: Path) -> float:
    from flowctl.api import run_workflow

    spec = workdir / f"flow{n}.yaml"
    steps = "\n".join(f'  - id: s{i}\n    run: "true"' for i in range(n))
    spec.write_text(f"name: bench\nmax_parallel_steps: {PARALLEL}\nsteps:\n{steps}\n")
    state = workdir / f"state{n}"
    started = time.perf_counter()
    result = run_workflow(spec, state_dir=state, workdir=workdir, record_history=False)
    elapsed = time.perf_counter() - started
    if not result.ok:
        raise SystemExit(f"the benchmark run failed: {result.error}")
    shutil.rmtree(state, ignore_errors=True)
    return elapsed


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(name: str, fn: Callable[..., float], sizes: list[int], repeat: int) -> float:
    """Print the median wall time per size, its slope and this process's CPU slope."""
    wall: dict[int, float] = {}
    cpu: dict[int, float] = {}
    for n in sizes:
        wall_samples, cpu_samples = [], []
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as tmp:
                before = _own_cpu()
                wall_samples.append(fn(n, Path(tmp)))
                cpu_samples.append(_own_cpu() - before)
        wall[n] = statistics.median(wall_samples)
        cpu[n] = statistics.median(cpu_samples)
    low, high = sizes[0], sizes[-1]
    slope = (wall[high] - wall[low]) / (high - low)
    cpu_slope = (cpu[high] - cpu[low]) / (high - low)
    shown = "  ".join(f"N={n}: {t:6.3f} s" for n, t in wall.items())
    print(
        f"{name:<26} {shown}  slope {slope * 1000:6.3f} ms/step"
        f"  (own CPU {cpu_slope * 1000:5.3f} ms/step)",
        flush=True,
    )
    return slope


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs=2, default=[200, 2000])
    parser.add_argument("--no-run", action="store_true", help="skip the whole-run measurement")
    args = parser.parse_args()
    sizes = sorted(args.sizes)
    print(f"parallelism {PARALLEL}, {os.cpu_count()} CPUs, median of {args.repeat}")
    make_slope = measure("make -j8", time_make, sizes, args.repeat)
    exec_slope = measure("executor", time_executor, sizes, args.repeat)
    cat = functools.partial(time_executor, command="cat /dev/null")
    cat_slope = measure("executor, cat /dev/null", cat, sizes, args.repeat)
    direct = action._direct_argv
    action._direct_argv = lambda script: None  # always `sh -e -c`, no direct exec
    try:
        shell_slope = measure("executor, true via sh", time_executor, sizes, args.repeat)
        cat_sh_slope = measure("executor, cat via sh", cat, sizes, args.repeat)
    finally:
        action._direct_argv = direct
    print(f"executor / make slope:          {exec_slope / make_slope:5.2f}x")
    print(f"executor (via sh) / make slope: {shell_slope / make_slope:5.2f}x")
    print(
        f"`cat /dev/null` exec'd directly vs via sh: {cat_slope * 1000:.3f} vs "
        f"{cat_sh_slope * 1000:.3f} ms/step (dash forks the command instead of exec'ing it)"
    )
    if not args.no_run:
        run_slope = measure("run_workflow (whole run)", time_run, sizes, args.repeat)
        print(f"run_workflow / make slope:      {run_slope / make_slope:5.2f}x")


if __name__ == "__main__":
    main()
