"""Hand-built histories for optimizer tests: records with known answers, written for real."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from flowctl.optimize import OptimizationReport, analyze_history
from flowctl.optimize.report import Recommendation, RecommendationType
from flowctl.state.history import append_record
from flowctl.state.records import RunRecord, StepRecord


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def step(
    step_id: str,
    duration: float,
    *,
    status: str = "completed",
    attempts: int = 1,
    **fields: Any,
) -> StepRecord:
    """A step record; `inputs="x"` / `outputs="y"` become their sha256."""
    inputs = fields.pop("inputs", None)
    outputs = fields.pop("outputs", None)
    return StepRecord(
        id=step_id,
        type=fields.pop("type", "action"),
        status=status,
        started_at="2026-01-01T00:00:00.000000Z",
        finished_at="2026-01-01T00:00:01.000000Z",
        duration=duration,
        attempts=attempts,
        inputs_sha256=None if inputs is None else sha(inputs),
        outputs_sha256=None if outputs is None else sha(outputs),
        **fields,
    )


def run(
    index: int,
    steps: Sequence[StepRecord],
    *,
    edges: Iterable[tuple[str, str]] = (),
    status: str = "completed",
    duration: float | None = None,
    workflow: str = "wf",
    **fields: Any,
) -> RunRecord:
    """A run record; its duration defaults to the sum of its step durations."""
    return RunRecord(
        run_id=f"run-{index:04d}",
        workflow=workflow,
        status=status,
        started_at=f"2026-01-01T00:{index // 60 % 60:02d}:{index % 60:02d}.000000Z",
        finished_at="2026-01-01T01:00:00.000000Z",
        duration=sum(s.duration for s in steps) if duration is None else duration,
        steps=tuple(steps),
        edges=tuple(edges),
        max_parallel_steps=fields.pop("max_parallel_steps", 10),
        **fields,
    )


def chain(*ids: str) -> list[tuple[str, str]]:
    return list(itertools.pairwise(ids))


def write(path: Path, records: Iterable[RunRecord]) -> Path:
    for record in records:
        append_record(path, record)
    return path


def simple_runs(
    durations: Mapping[str, Sequence[float]],
    *,
    edges: Iterable[tuple[str, str]] = (),
    **fields: Any,
) -> list[RunRecord]:
    """One run per index of the duration lists: every step completes."""
    count = len(next(iter(durations.values())))
    edge_list = list(edges)
    return [
        run(
            i,
            [step(name, values[i]) for name, values in durations.items()],
            edges=edge_list,
            **fields,
        )
        for i in range(count)
    ]


def analyze(path: Path, **options: Any) -> OptimizationReport:
    options.setdefault("top", 100)
    options.setdefault("workers", 1)
    return analyze_history(path, **options)


def of_type(report: OptimizationReport, kind: RecommendationType) -> list[Recommendation]:
    return [r for r in report.recommendations if r.type is kind]


def by_id(report: OptimizationReport) -> dict[str, Recommendation]:
    return {r.id: r for r in report.recommendations}
