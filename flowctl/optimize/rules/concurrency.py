"""concurrency: runs whose ready steps waited for a slot under max_parallel_steps."""

from __future__ import annotations

from collections.abc import Iterator

from flowctl.optimize.model import Change
from flowctl.optimize.report import Level, Recommendation, RecommendationType
from flowctl.optimize.rules.base import Context, evidence, percent, seconds, set_change
from flowctl.optimize.stats import quantile

MIN_QUEUED_RUNS = 2
MIN_QUEUED_SHARE = 0.1  # of runs
MIN_QUEUED_SECONDS = 0.01  # per run, below which waiting is scheduling noise


def concurrency(ctx: Context) -> Iterator[Recommendation]:
    queued = [q for q in ctx.aggregate.queued if q >= MIN_QUEUED_SECONDS]
    runs = ctx.aggregate.runs
    if len(queued) < MIN_QUEUED_RUNS or len(queued) < MIN_QUEUED_SHARE * runs:
        return
    limit = ctx.max_parallel
    if limit is None:
        return
    # The most leaves running at once with no limit: containers' children count, as
    # they take slots in the runner.
    width = ctx.model.replay(Change(), unlimited=True).peak_running
    # The median run may not reach the limit when only some runs queue; then offer twice
    # the limit and let the replay say what it is worth.
    proposed = width if width > limit else limit * 2
    capacity = ctx.aggregate.capacity
    if capacity is not None:
        # On a Dask cluster more slots than worker threads only queue on the workers.
        proposed = min(proposed, capacity)
        if proposed <= limit:
            return
    change = Change(max_parallel=proposed, sets_max_parallel=True)
    gain = ctx.model.improvement(change)
    recorded = ctx.aggregate.max_parallel
    if gain <= 0 and recorded is not None and recorded != limit:
        return  # the runs queued under another limit than the one set now
    typical = quantile(sorted(queued), 0.5)
    yield Recommendation(
        id="concurrency:max_parallel_steps",
        type=RecommendationType.CONCURRENCY,
        description=(
            f"In {len(queued)} of {runs} runs ({percent(len(queued) / runs)}) ready steps "
            f"waited for a free slot under max_parallel_steps={limit} (median "
            f"{seconds(typical)} a run). Raise it to {proposed} if what the steps call "
            "can take the extra load."
            + (
                f" The Dask cluster runs {capacity} steps at once; add workers to go further."
                if capacity is not None and proposed == capacity
                else ""
            )
        ),
        expected_improvement=gain,
        implementation_effort=Level.LOW,
        risk_level=Level.MEDIUM,
        specific_changes=(set_change(ctx, None, "max_parallel_steps", proposed, limit),),
        evidence=evidence(
            queued_runs=len(queued),
            runs=runs,
            median_queued_seconds=typical,
            dag_width=width,
            current_limit=limit,
            **({"executor_capacity": capacity} if capacity is not None else {}),
        ),
        change=change,
    )
