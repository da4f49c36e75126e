"""What durable journaling costs: the same runs with the audit log fsynced and without.

    .venv/bin/python benchmarks/bench_journal.py [--quick] [--runs N]

Target (issue 4): the 1,000-step chain of no-op python steps and the 2,000-step shell
fan-out (`true` steps, max_parallel_steps 8) are at most 20% slower with durable
journaling (`run_workflow(..., durable=True)`, the CLI's default: group-commit fsync at
step boundaries) than without (`durable=False`). Each configuration runs N times,
interleaved (durable, plain, durable, ...) so that drift of the machine hits both alike;
the median is reported, and the ratio of the best runs (which other load on a shared
machine distorts least). The spec is loaded once, outside the clock.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET_OVERHEAD = 0.20


def chain_spec(n: int) -> str:
    lines = ["name: journal-chain", "optimization_enabled: false", "steps:"]
    for i in range(n):
        lines += [f"  - id: s{i}", "    python: bench_journal_funcs:noop"]
        if i:
            lines.append(f"    dependencies: [s{i - 1}]")
    return "\n".join(lines) + "\n"


def fanout_spec(n: int) -> str:
    lines = [
        "name: journal-fanout",
        "max_parallel_steps: 8",
        "optimization_enabled: false",
        "steps:",
        "  - id: root",
        "    run: 'true'",
    ]
    for i in range(n - 1):
        lines += [f"  - id: s{i}", "    run: 'true'", "    dependencies: [root]"]
    return "\n".join(lines) + "\n"


def timed(spec: Path, state: Path, *, durable: bool) -> float:
    from flowctl.api import run_workflow
    from flowctl.spec.load import load_workflow

    wf = load_workflow(spec)
    started = time.perf_counter()
    result = run_workflow(wf, state_dir=state, durable=durable)
    took = time.perf_counter() - started
    assert result.ok, result.error
    return took


def bench(work: Path, slug: str, name: str, text: str, runs: int) -> float:
    spec = work / f"{slug}.yaml"
    spec.write_text(text)
    timed(spec, work / "warm-up", durable=False)  # imports, caches, the first fork
    samples: dict[bool, list[float]] = {True: [], False: []}
    for i in range(runs):
        for mode in (True, False) if i % 2 == 0 else (False, True):
            samples[mode].append(timed(spec, work / f"state-{slug}", durable=mode))
    durable, plain = statistics.median(samples[True]), statistics.median(samples[False])
    overhead = durable / plain - 1
    verdict = "ok" if overhead <= TARGET_OVERHEAD else "MISSED"
    print(
        f"{name}: durable {durable:.3f} s, not durable {plain:.3f} s (medians of {runs}); "
        f"overhead {overhead * 100:+.1f}% (target <= {TARGET_OVERHEAD * 100:.0f}%: {verdict})"
    )
    best = min(samples[True]) / min(samples[False]) - 1
    print(
        f"  best of each {best * 100:+.1f}% (less sensitive to other load on the machine); "
        f"samples durable {[round(s, 3) for s in samples[True]]}, "
        f"not durable {[round(s, 3) for s in samples[False]]}"
    )
    return overhead


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--runs", type=int, default=5, help="runs of each configuration (>= 1)")
    args = parser.parse_args()
    chain_n, fan_n = (200, 400) if args.quick else (1000, 2000)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "bench_journal_funcs.py").write_text("async def noop():\n    return {}\n")
        sys.path.insert(0, str(work))
        bench(work, "chain", f"{chain_n}-step python chain", chain_spec(chain_n), args.runs)
        bench(work, "fanout", f"{fan_n}-step shell fan-out", fanout_spec(fan_n), args.runs)


if __name__ == "__main__":
    main()
