"""retry: flaky steps without retries, and retries that never help."""

from __future__ import annotations

from collections.abc import Iterator

from flowctl.optimize.model import Change
from flowctl.optimize.report import Level, Recommendation, RecommendationType
from flowctl.optimize.rules.base import (
    Context,
    StepView,
    evidence,
    rerun_improvement,
    seconds,
    set_change,
)

MIN_FAILURES = 2
MIN_HEALED = 2  # failures that passed on the next run with the same inputs
MIN_HEALED_SHARE = 0.3  # of the failures
MIN_EXHAUSTED = 3  # executions that used every attempt and still failed
RETRY_DELAY = 1.0  # seconds, the backoff the advice proposes


def retry(ctx: Context) -> Iterator[Recommendation]:
    for view in ctx.steps.values():
        if not view.does_work:
            continue
        found = _add_retries(ctx, view) if view.max_attempts <= 1 else _drop_retries(ctx, view)
        if found is not None:
            yield found


def _add_retries(ctx: Context, view: StepView) -> Recommendation | None:
    agg = view.aggregate
    healed = agg.healed_next
    if (
        agg.failures < MIN_FAILURES
        or healed < MIN_HEALED
        or healed < MIN_HEALED_SHARE * agg.failures
    ):
        return None
    runs = agg.executions - agg.cache_hits
    share = healed / runs
    model = ctx.model
    duration = model.durations.get(view.name, 0.0)
    # A transient failure now costs a whole new run; with a retry it costs one more attempt.
    before = model.baseline * (1 + share)
    after = model.makespan(
        Change(durations={view.name: duration * (1 + share) + share * RETRY_DELAY})
    )
    policy = {"max_attempts": 3, "backoff_strategy": "exponential", "delay": "1s"}
    return Recommendation(
        id=f"retry:{view.file_id}",
        type=RecommendationType.RETRY,
        description=(
            f"Step '{view.file_id}' has no retries and failed {agg.failures} times; "
            f"{healed} of those failures passed on the next run with the same inputs, so "
            "they were transient. Retrying it saves re-running the workflow."
        ),
        expected_improvement=rerun_improvement(model.baseline, before, after),
        implementation_effort=Level.LOW,
        risk_level=Level.LOW,
        specific_changes=(set_change(ctx, view, "retry_policy", policy, {"max_attempts": 1}),),
        steps=(view.file_id,),
        evidence=evidence(
            failures=agg.failures,
            passed_on_next_run=healed,
            executions=runs,
            expected_seconds_before=before,
            expected_seconds_after=after,
        ),
    )


def _drop_retries(ctx: Context, view: StepView) -> Recommendation | None:
    agg = view.aggregate
    if agg.retried_failed < MIN_EXHAUSTED or agg.retried_passed > 0:
        return None
    attempts = agg.retried_failed_attempts / agg.retried_failed
    failing = agg.retried_failed_seconds / agg.retried_failed
    # The backoff and the wait for a slot between attempts are part of `failing`, not of
    # any attempt: one attempt takes the rest divided by the attempts.
    waiting = min(failing, agg.retried_failed_wait / agg.retried_failed)
    working = failing - waiting
    reached = agg.executions + agg.skipped
    share = agg.retried_failed / reached if reached else 0.0
    model = ctx.model
    slow = model.with_durations({view.name: working}, {view.name: waiting})
    fast = model.with_durations({view.name: working / attempts}, {view.name: 0.0})
    gain = 100.0 * share * (slow - fast) / model.baseline if model.baseline > 0 else 0.0
    kinds = ", ".join(
        f"{kind} x{count}"
        for kind, count in sorted(agg.error_kinds.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    return Recommendation(
        id=f"retry:{view.file_id}",
        type=RecommendationType.RETRY,
        description=(
            f"Retries of step '{view.file_id}' never helped: {agg.retried_failed} executions "
            f"used about {attempts:.1f} attempts each and still failed ({kinds}), spending "
            f"{seconds(failing)} where one attempt fails in {seconds(working / attempts)}. "
            "Stop retrying, or limit retry_on to the errors that do heal."
        ),
        expected_improvement=max(0.0, gain),
        implementation_effort=Level.LOW,
        risk_level=Level.LOW,
        specific_changes=(
            set_change(ctx, view, "retry_policy.max_attempts", 1, view.max_attempts),
        ),
        steps=(view.file_id,),
        evidence=evidence(
            exhausted=agg.retried_failed,
            passed_after_retry=0,
            mean_attempts=attempts,
            error_kinds=dict(agg.error_kinds),
        ),
    )
