"""Memory and journal size of a nested loop against its number of items (issue 14, item 14).

    .venv/bin/python benchmarks/bench_loop_memory.py [--items 30,300,3000] [--stdout-kib 1024]

Each size N runs `flowctl run` (a child process, as a user would) on a nested for_each:
N / 30 outer items, each an inner loop of 30 items, each item a shell step printing
`--stdout-kib` KiB (`head -c BYTES /dev/zero | tr "\\0" x`). After the loop, one step reads the last
child's stdout through the loop's outputs
(`steps.outer.outputs.iterations[-1].inner.iterations[29].big.stdout | length`), so the
outputs must still be readable. Reported per N: the flowctl process's peak RSS
(`ru_maxrss` of os.wait4), the size of audit.jsonl, and the wall time.

Target: peak RSS flat in N (the last size at most 1.5x the first, plus 20 MiB for the
per-step records every run keeps: ids, statuses, timings), and the journal at one copy of
each child's stdout (bytes per item within 10% of the stdout size). Wall time is printed
for information only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INNER = 30  # items of each inner loop
RSS_SLACK_MIB = 20.0  # what a run keeps per step whatever its outputs (ids, timings, events)
RSS_RATIO = 1.5


def spec_text(items: int, stdout_bytes: int) -> str:
    outer = max(1, items // INNER)
    return f"""
name: loop-memory
max_parallel_steps: 4
optimization_enabled: false
steps:
  - id: outer
    type: loop
    loop:
      for_each: {list(range(outer))}
      steps:
        - id: inner
          type: loop
          loop:
            for_each: {list(range(INNER))}
            max_concurrency: 4
            steps:
              - id: big
                run: head -c {stdout_bytes} /dev/zero | tr '\\0' x
  - id: read
    dependencies: [outer]
    run: >-
      printf '%s' "{{{{ steps.outer.outputs.iterations[{outer - 1}].inner
      .iterations[{INNER - 1}].big.stdout | length }}}}"
"""


def measure(work: Path, items: int, stdout_bytes: int) -> dict[str, float | int | str]:
    root = work / f"n{items}"
    root.mkdir()
    spec = root / "wf.yaml"
    spec.write_text(spec_text(items, stdout_bytes))
    state = root / ".flowctl"
    argv = [sys.executable, "-m", "flowctl", "run", str(spec), "--state-dir", str(state)]
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(REPO)}
    began = time.monotonic()
    proc = subprocess.Popen(
        [*argv, "--no-progress", "--quiet"],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.monotonic() - began
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"flowctl run exited {code} at N={items}:\n{err.decode()[-2000:]}")
    (run_dir,) = (state / "runs").iterdir()
    audit = run_dir / "audit.jsonl"
    read = _read_output(audit)
    expected = str(stdout_bytes)  # `$(...)`-style: the outputs keep the text as printed
    return {
        "items": items,
        "stdout_kib": stdout_bytes // 1024,
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "audit_mib": round(audit.stat().st_size / 2**20, 1),
        "audit_bytes_per_item": round(audit.stat().st_size / items),
        "seconds": round(took, 1),
        "read_ok": "yes" if read in (expected, str(stdout_bytes - 1)) else f"no ({read!r})",
    }


def _read_output(audit: Path) -> str:
    """The `read` step's stdout, from its journal line."""
    for line in audit.read_text(encoding="utf-8").splitlines():
        if '"step":"read"' in line and '"step_completed"' in line:
            return str(json.loads(line)["data"]["outputs"]["stdout"])
    return "<no read step>"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", default="30,300,3000", help="comma-separated sizes N")
    parser.add_argument("--stdout-kib", type=int, default=1024, help="KiB printed per step")
    args = parser.parse_args()
    sizes = [int(n) for n in args.items.split(",")]
    stdout_bytes = args.stdout_kib * 1024
    rows = []
    with tempfile.TemporaryDirectory(prefix="flowctl-loop-memory-") as name:
        for items in sizes:
            row = measure(Path(name), items, stdout_bytes)
            print(json.dumps(row), flush=True)
            rows.append(row)
    first, last = rows[0], rows[-1]
    rss_ok = float(last["peak_rss_mib"]) <= RSS_RATIO * float(first["peak_rss_mib"]) + (
        RSS_SLACK_MIB
    )
    journal_ok = all(int(r["audit_bytes_per_item"]) <= 1.1 * stdout_bytes + 2048 for r in rows)
    read_ok = all(r["read_ok"] == "yes" for r in rows)
    print(
        f"peak RSS {first['peak_rss_mib']} MiB at N={first['items']} -> "
        f"{last['peak_rss_mib']} MiB at N={last['items']}: {'flat' if rss_ok else 'GROWS'}; "
        f"journal one copy per item: {'yes' if journal_ok else 'NO'}; "
        f"outputs read back: {'yes' if read_ok else 'NO'}"
    )
    return 0 if rss_ok and journal_ok and read_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
