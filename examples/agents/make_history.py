"""Regenerate history.jsonl: run ocr_pipeline.yaml once per nightly batch, then summarise.

    python examples/agents/make_history.py [--runs 30] [--out examples/agents/history.jsonl]

Each batch starts with the history of the batches before it, so adaptive routing learns
as it would in production. From batch OUTAGE_FROM on, fast_ocr fails most pages (see
ocr_agents.py). The summary shows, per batch, which agent got each page's first attempt.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPEC = HERE / "ocr_pipeline.yaml"


def first_choices(record: dict[str, object]) -> Counter[str]:
    """How many pages each agent got first in one history record."""
    counts: Counter[str] = Counter()
    for step in record["steps"]:  # type: ignore[attr-defined]
        attempts = step.get("agent_attempts") or []
        if step.get("capability") == "ocr" and attempts:
            counts[attempts[0][0]] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--out", type=Path, default=HERE / "history.jsonl")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from flowctl.api import RunStatus, run_workflow

    args.out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as state:
        for batch in range(args.runs):
            result = run_workflow(SPEC, inputs={"batch": batch}, state_dir=state, history=args.out)
            if result.status is not RunStatus.COMPLETED:
                print(f"batch {batch}: {result.status.value}: {result.error}", file=sys.stderr)
                return 1
    print("batch  first attempts (fast_ocr / accurate_ocr)  failovers")
    for batch, line in enumerate(args.out.read_text().splitlines()):
        record = json.loads(line)
        counts = first_choices(record)
        failovers = sum(
            1
            for step in record["steps"]
            if len({a[0] for a in step.get("agent_attempts") or []}) > 1
        )
        fast, accurate = counts["fast_ocr"], counts["accurate_ocr"]
        print(f"{batch:5d}  {fast:20d} / {accurate:<20d}  {failovers:9d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
