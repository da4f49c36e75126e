"""Benchmark `flowctl optimize`: 100,000 generated runs of a 20-step workflow.

Generates benchmarks/out/history-<N>x<S>.jsonl once (about a gigabyte for the defaults: every
step carries timestamps and input/output hashes, as the runner writes them), then analyses it
in a fresh process and prints wall time, CPU time and peak RSS (the analysing process plus
its largest scan worker: an upper bound of the tree's peak). Targets: under 10 s and 500 MB.

    .venv/bin/python benchmarks/bench_optimize.py [--records N] [--steps S] [--regenerate]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
TIME_TARGET = 10.0
RSS_TARGET_MB = 500.0

ANALYSE = """
import json, resource, sys, time
from pathlib import Path
start = time.perf_counter()
from flowctl.optimize import analyze_history
report = analyze_history(Path(sys.argv[1]), top=5)
data = report.to_json()
wall = time.perf_counter() - start
me = resource.getrusage(resource.RUSAGE_SELF)
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({
    "wall": wall,
    "cpu": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
    "rss_self_mb": me.ru_maxrss / 1024,
    "rss_worker_mb": kids.ru_maxrss / 1024,
    "runs": data["summary"]["runs"],
    "skipped_lines": data["history"]["skipped_lines"],
    "torn": data["history"]["torn_last_line"],
    "recommendations": [(r["id"], r["expected_improvement"]) for r in data["recommendations"]],
    "score": data["summary"]["optimization_score"],
}))
"""


def generate(path: Path, records: int, steps: int, seed: int = 7) -> None:
    """A realistic history: a fan-out/fan-in DAG, lognormal durations, a few failures,
    retries, cache hits and queueing, and a regression in the last tenth of the runs."""
    rng = random.Random(seed)
    names = [f"step_{i:02d}" for i in range(steps)]
    edges = [[names[(i - 1) // 2], names[i]] for i in range(1, steps)]
    base = [0.2 + (i * 7 % 11) / 2 for i in range(steps)]
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(1000)]
    stamp = "2026-11-25T16:34:00.123456Z"

    def outputs_of(inputs: str) -> str:
        return hashes[int(inputs[:3], 16) % 1000]  # deterministic: the same inputs, outputs

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        out.write("this line is not JSON\n")
        for r in range(records):
            regressed = r > records * 9 // 10
            step_records = []
            total = 0.0
            failed_run = False
            for i, name in enumerate(names):
                duration = base[i] * rng.lognormvariate(0, 0.3)
                if regressed and i == 3:
                    duration *= 1.8
                roll = rng.random()
                status, attempts, kind = "completed", 1, None
                if roll < 0.01:
                    status, kind, failed_run = "failed", "exit_code:1", True
                elif roll < 0.03:
                    attempts = 2
                    duration *= 2
                cached = i == 5 and roll > 0.5
                inputs = hashes[rng.randrange(40 if i in (5, 6) else 1000)]
                step_records.append(
                    {
                        "id": name,
                        "type": "action",
                        "status": status,
                        "started_at": stamp,
                        "finished_at": stamp,
                        "duration": round(0.001 if cached else duration, 6),
                        "queued": round(rng.random() * 0.2, 6) if i > 10 else 0.0,
                        "attempts": attempts,
                        "cached": cached,
                        "error": "exit status 1" if status == "failed" else None,
                        "error_kind": kind,
                        "timeout": 300.0,
                        "max_attempts": 2 if i == 7 else 1,
                        "parent": None,
                        "inputs_sha256": inputs,
                        "outputs_sha256": None
                        if status == "failed"
                        else hashes[int(inputs[:3], 16) % 1000],
                        "metrics": {},
                    }
                )
                total += duration
            record = {
                "format": 1,
                "run_id": f"20261125T163400Z-{r:06x}",
                "workflow": "bench",
                "workflow_version": "1.1" if regressed else "1.0",
                "spec_sha256": "b" * 64 if regressed else "a" * 64,
                "status": "failed" if failed_run else "completed",
                "started_at": stamp,
                "finished_at": stamp,
                "duration": round(total * 0.6, 6),
                "max_parallel_steps": 4,
                "sla_targets": {"max_execution_time": 20.0},
                "inputs_sha256": hashes[r % 1000],
                "steps": step_records,
                "edges": edges,
            }
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
        out.write('{"format": 1, "run_id": "torn-by-a-crash", "workflow": "ben')
    tmp.replace(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args()
    path = OUT / f"history-{args.records}x{args.steps}.jsonl"
    if args.regenerate or not path.exists():
        started = time.perf_counter()
        generate(path, args.records, args.steps)
        print(f"generated {path} in {time.perf_counter() - started:.1f} s")
    size_mb = path.stat().st_size / 1e6
    done = subprocess.run(
        [sys.executable, "-c", ANALYSE, str(path)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return 1
    result = json.loads(done.stdout)
    rss = result["rss_self_mb"] + result["rss_worker_mb"]
    print(f"history      {path.name}: {args.records} runs x {args.steps} steps, {size_mb:.0f} MB")
    print(
        f"analysed     {result['runs']} runs, {result['skipped_lines']} bad line(s), "
        f"torn last line: {result['torn']}"
    )
    print(f"wall time    {result['wall']:.2f} s   (target < {TIME_TARGET:.0f} s)")
    print(f"cpu time     {result['cpu']:.2f} s   (all processes)")
    print(
        f"peak RSS     {rss:.0f} MB  (analyser {result['rss_self_mb']:.0f} MB + largest "
        f"worker {result['rss_worker_mb']:.0f} MB; target < {RSS_TARGET_MB:.0f} MB)"
    )
    print(f"score        {result['score']}/100")
    for rec_id, gain in result["recommendations"]:
        print(f"  {rec_id:40s} {gain:6.2f}%")
    ok = result["wall"] < TIME_TARGET and rss < RSS_TARGET_MB
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
