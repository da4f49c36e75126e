"""flaky: steps whose failures pass on a retry or on the next run with the same inputs."""

from __future__ import annotations

from collections.abc import Iterator

from flowctl.optimize.report import Level, Recommendation, RecommendationType
from flowctl.optimize.rules.base import (
    Context,
    evidence,
    investigate,
    percent,
    rerun_improvement,
)

MIN_SCORE = 0.05  # flaky events per execution
MIN_EVENTS = 2


def flaky(ctx: Context) -> Iterator[Recommendation]:
    model = ctx.model
    for view in ctx.steps.values():
        agg = view.aggregate
        runs = agg.executions - agg.cache_hits
        events = agg.retried_passed + agg.healed_next
        if runs <= 0 or events < MIN_EVENTS or events / runs < MIN_SCORE:
            continue
        score = events / runs
        duration = model.durations.get(view.name, 0.0)
        retried = agg.retried_passed / runs
        extra = 0.0
        if agg.retried_passed:
            extra = max(0.0, agg.retried_passed_seconds / agg.retried_passed - duration)
        rerun = agg.healed_next / runs
        # Today: retried executions take longer, and next-run passes cost a whole run.
        before = model.with_durations({view.name: duration + retried * extra}) * (1 + rerun)
        yield Recommendation(
            id=f"flaky:{view.file_id}",
            type=RecommendationType.FLAKY,
            description=(
                f"Step '{view.file_id}' is flaky (score {score:.2f}): {agg.retried_passed} "
                f"executions passed only after a retry and {agg.healed_next} failures passed "
                f"on the next run with the same inputs, out of {runs} ({percent(score)}). "
                "Find the cause (a race, a rate limit, a slow dependency); retries hide it "
                "at a price."
            ),
            expected_improvement=rerun_improvement(model.baseline, before, model.baseline),
            implementation_effort=Level.MEDIUM,
            risk_level=Level.LOW,
            specific_changes=(
                investigate(
                    view,
                    "flakiness",
                    {
                        "score": round(score, 4),
                        "passed_on_retry": agg.retried_passed,
                        "passed_on_next_run": agg.healed_next,
                        "error_kinds": dict(agg.error_kinds),
                    },
                ),
            ),
            steps=(view.file_id,),
            evidence=evidence(
                score=score,
                executions=runs,
                passed_on_retry=agg.retried_passed,
                passed_on_next_run=agg.healed_next,
                retry_seconds=extra,
            ),
        )
