"""Time whole commands against each other, interleaved: a before/after under the same load.

    .venv/bin/python benchmarks/interleave.py [--runs 15] [--cwd DIR] 'COMMAND A' 'COMMAND B' ...

Every repetition runs every command once, in order, so drift of a shared machine hits all
alike. Prints, per command, the median wall time, the median CPU time (user + system of the
process and its children: on a busy machine the fairer figure) and the fastest wall time.
Commands are split as a shell would (`shlex`) but run without one; they run with
CI=true, NO_COLOR=1 and without PYTHONDONTWRITEBYTECODE, as an installed tool runs from
its bytecode. One untimed warm-up run of each comes first. A command that fails stops the
measurement: a failing run is no measure of the work.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path


def clean_env() -> dict[str, str]:
    """The environment commands are timed in: no terminal colours, CI mode, bytecode used."""
    env = {**os.environ, "CI": "true", "NO_COLOR": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    cpu = _children_cpu()
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started, _children_cpu() - cpu


def interleaved(
    commands: list[list[str]], cwd: Path, runs: int, env: dict[str, str] | None = None
) -> list[tuple[list[float], list[float]]]:
    """Each command's wall and CPU times, in seconds, over `runs` interleaved repetitions
    after one warm-up each. Raises CalledProcessError for a command that fails."""
    env = clean_env() if env is None else env
    times: list[tuple[list[float], list[float]]] = [([], []) for _ in commands]
    for command in commands:
        _run(command, cwd, env)
    for _ in range(runs):
        for command, (walls, cpus) in zip(commands, times, strict=True):
            wall, cpu = _run(command, cwd, env)
            walls.append(wall)
            cpus.append(cpu)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commands", nargs="+", help="each a whole command line, quoted")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--cwd", type=Path, default=Path.cwd())
    args = parser.parse_args()
    try:
        times = interleaved([shlex.split(c) for c in args.commands], args.cwd, args.runs)
    except subprocess.CalledProcessError as exc:
        print(f"failed (exit {exc.returncode}): {shlex.join(exc.cmd)}", file=sys.stderr)
        return 1
    load = os.getloadavg()[0]
    print(f"{args.runs} interleaved runs each, load average {load:.1f} at the end")
    for text, (took, used) in zip(args.commands, times, strict=True):
        print(
            f"wall {statistics.median(took) * 1000:7.1f} ms  cpu "
            f"{statistics.median(used) * 1000:7.1f} ms  fastest {min(took) * 1000:7.1f} ms  {text}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
