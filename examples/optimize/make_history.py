"""Regenerate history.jsonl: run pipeline.yaml once per nightly batch through flowctl's API.

    python examples/optimize/make_history.py [--runs 40] [--out examples/optimize/history.jsonl]

Batch b runs with inputs {batch: b, region: eu/us/apac in turn}. What each batch meets
is decided by the batch number (see pipeline_agents.py), so every regeneration shows the
same behaviour; only run ids, timestamps and a few milliseconds differ. Forty batches are
enough for every recommendation type of `flowctl optimize`; see README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from pipeline_agents import MAINTENANCE_BATCHES

from flowctl.api import RunStatus, run_workflow
from flowctl.errors import FlowctlError

HERE = Path(__file__).resolve().parent
SPEC = HERE / "pipeline.yaml"
REGIONS = ("eu", "us", "apac")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run pipeline.yaml once per batch and write its history."
    )
    parser.add_argument("--runs", type=int, default=40, help="batches to run (default 40)")
    parser.add_argument(
        "--out", type=Path, default=HERE / "history.jsonl", help="the history file to write"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    try:
        return generate(args.runs, args.out)
    except FlowctlError as err:
        print(f"make_history: {err}", file=sys.stderr)
        return 2


def generate(runs: int, out: Path) -> int:
    """Run the batches into a fresh history, then put it at `out` in one rename."""
    started = time.perf_counter()
    unexpected = []
    counts: dict[str, int] = {}
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="flowctl-example-") as tmp:
        state = Path(tmp) / "state"
        history = Path(tmp) / "history.jsonl"
        for batch in range(runs):
            result = run_workflow(
                SPEC,
                inputs={"batch": batch, "region": REGIONS[batch % len(REGIONS)]},
                state_dir=state,
                history=history,
                workdir=tmp,
                # The state directory is thrown away: no need to fsync its journals.
                durable=False,
            )
            counts[result.status.value] = counts.get(result.status.value, 0) + 1
            # Only the maintenance window may fail a night; anything else is a bug.
            expected = RunStatus.FAILED if batch in MAINTENANCE_BATCHES else RunStatus.COMPLETED
            if result.status is not expected:
                unexpected.append(f"batch {batch}: {result.status.value} ({result.error})")
        # Same directory as `out`, so the rename cannot cross filesystems.
        staged = out.with_name(out.name + ".tmp")
        staged.write_bytes(history.read_bytes())
        os.replace(staged, out)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    print(f"{runs} runs ({summary}) in {time.perf_counter() - started:.1f}s -> {out}")
    for line in unexpected:
        print(f"unexpected: {line}", file=sys.stderr)
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
