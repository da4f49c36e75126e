"""timeout: limits far above what a step needs (p99), and limits that were hit."""

from __future__ import annotations

from collections.abc import Iterator

from flowctl.optimize.report import Level, Recommendation, RecommendationType, SpecificChange
from flowctl.optimize.rules.base import (
    Context,
    StepView,
    duration_text,
    evidence,
    parse_text_seconds,
    rerun_improvement,
    seconds,
    set_change,
)
from flowctl.optimize.stats import quantile

MIN_SAMPLES = 20  # clean executions before a limit is called too generous
FAR_FACTOR = 10.0  # "far above": the limit is at least this many times p99 ...
FAR_GAP = 60.0  # ... and at least this many seconds above it
HEADROOM = 3.0  # the proposed limit: this many times p99
MIN_LIMIT = 10.0  # seconds; never propose less
TIGHT = 0.5  # a hit limit is "tight" when clean p99 reaches this share of it


def timeout(ctx: Context) -> Iterator[Recommendation]:
    for view in ctx.steps.values():
        limit = view.timeout
        if not view.does_work or limit is None or limit <= 0:
            continue
        found = _hit(ctx, view, limit) if view.aggregate.timeouts else _generous(ctx, view, limit)
        if found is not None:
            yield found


def _hit(ctx: Context, view: StepView, limit: float) -> Recommendation:
    agg = view.aggregate
    clean = view.clean_sorted()
    p99 = quantile(clean, 0.99)
    longest = clean[-1] if clean else 0.0
    share = agg.timeouts / max(1, agg.executions - agg.cache_hits)
    model = ctx.model
    base = model.baseline
    duration = model.durations.get(view.name, 0.0)
    # A timed-out run fails after the limit and is run again.
    before = (1 - share) * base + share * (model.with_durations({view.name: limit}) + base)
    if clean and p99 >= TIGHT * limit:
        proposed = duration_text(2 * max(longest, p99))
        new = parse_text_seconds(proposed)
        after = (1 - share) * base + share * model.with_durations({view.name: new})
        text = (
            f"Step '{view.file_id}' hit its {seconds(limit)} timeout in {agg.timeouts} runs "
            f"while its passing runs reach {seconds(p99)} (p99): the limit cuts into normal "
            f"durations. Raise it to {proposed}."
        )
        changes: tuple[SpecificChange, ...] = (set_change(ctx, view, "timeout", proposed, limit),)
    else:
        proposed = duration_text(max(HEADROOM * p99, MIN_LIMIT))
        new = parse_text_seconds(proposed)
        after = (1 - share) * base + share * model.with_durations({view.name: new + duration})
        text = (
            f"Step '{view.file_id}' hit its {seconds(limit)} timeout in {agg.timeouts} runs, "
            f"far beyond its p99 of {seconds(p99)}: it hangs now and then. Fail it after "
            f"{proposed} and retry on timeout instead of waiting out the limit."
        )
        retry = {"max_attempts": max(2, view.max_attempts), "retry_on": ["timeout"]}
        changes = (
            set_change(ctx, view, "timeout", proposed, limit),
            set_change(ctx, view, "retry_policy", retry),
        )
    return Recommendation(
        id=f"timeout:{view.file_id}",
        type=RecommendationType.TIMEOUT,
        description=text,
        expected_improvement=rerun_improvement(base, before, after),
        implementation_effort=Level.LOW,
        risk_level=Level.LOW,
        specific_changes=changes,
        steps=(view.file_id,),
        evidence=evidence(timeouts=agg.timeouts, limit=limit, p99=p99, proposed=new),
    )


def _generous(ctx: Context, view: StepView, limit: float) -> Recommendation | None:
    # A limit nobody chose is not worth an edit until it is hit: advice for every step
    # left at the default would bury the rest.
    if view.timeout_is_default:
        return None
    clean = view.clean_sorted()
    if len(clean) < MIN_SAMPLES:
        return None
    p99 = quantile(clean, 0.99)
    if limit < FAR_FACTOR * p99 or limit - p99 < FAR_GAP:
        return None
    proposed = duration_text(max(HEADROOM * p99, MIN_LIMIT))
    new = parse_text_seconds(proposed)
    if new >= limit / 2:
        return None
    model = ctx.model
    hung = model.with_durations({view.name: limit})
    capped = model.with_durations({view.name: new})
    return Recommendation(
        id=f"timeout:{view.file_id}",
        type=RecommendationType.TIMEOUT,
        description=(
            f"Step '{view.file_id}' has a {seconds(limit)} timeout but its p99 is "
            f"{seconds(p99)} over {len(clean)} runs. With {proposed} a hung attempt fails "
            f"{seconds(limit - new)} sooner (a hung run would take {seconds(capped)} instead "
            f"of {seconds(hung)}); no run so far hung, so the median run gains nothing."
        ),
        expected_improvement=0.0,
        implementation_effort=Level.LOW,
        risk_level=Level.LOW if len(clean) >= 100 else Level.MEDIUM,
        specific_changes=(set_change(ctx, view, "timeout", proposed, limit),),
        steps=(view.file_id,),
        evidence=evidence(
            limit=limit,
            p99=p99,
            samples=len(clean),
            proposed=new,
            hung_run_seconds_before=hung,
            hung_run_seconds_after=capped,
        ),
    )
