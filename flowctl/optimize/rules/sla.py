"""sla: p95 run time or success rate off the workflow's sla_targets (runs after the others)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import reduce

from flowctl.optimize.model import Change
from flowctl.optimize.report import Level, Recommendation, RecommendationType
from flowctl.optimize.rules.base import (
    Context,
    duration_text,
    evidence,
    investigate,
    percent,
    seconds,
    set_change,
)
from flowctl.optimize.stats import quantile

_RELIABILITY = (RecommendationType.RETRY, RecommendationType.TIMEOUT, RecommendationType.FLAKY)


def sla(ctx: Context) -> Iterator[Recommendation]:
    found = _execution_time(ctx)
    if found is not None:
        yield found
    found = _success_rate(ctx)
    if found is not None:
        yield found


def _execution_time(ctx: Context) -> Recommendation | None:
    target = ctx.sla.max_execution_time
    done = ctx.completed_durations
    if target is None or not done:
        return None
    p95 = quantile(done, 0.95)
    if p95 <= target:
        return None
    missed = sum(1 for d in done if d > target) / len(done)
    speedups = [r for r in ctx.found if r.change is not None and r.expected_improvement > 0]
    gain = 0.0
    if speedups:
        combined = reduce(Change.combine, (r.change for r in speedups if r.change), Change())
        gain = ctx.model.improvement(combined)
    projected = p95 * (1 - gain / 100)
    text = (
        f"p95 run time {seconds(p95)} is over the SLA target of {seconds(target)}; "
        f"{percent(missed)} of completed runs missed it."
    )
    if speedups:
        verdict = "within" if projected <= target else "still over"
        text += (
            f" Applying {', '.join(r.id for r in speedups)} together replays {gain:.1f}% "
            f"faster: a projected p95 of {seconds(projected)}, {verdict} the target."
        )
    else:
        text += " No computed change closes the gap: start with the critical path."
    apply = {"apply": [r.id for r in speedups]} if speedups else {"look_at": "critical_path"}
    return Recommendation(
        id="sla:max_execution_time",
        type=RecommendationType.SLA,
        description=text + " Or, if today's time is acceptable, relax the target.",
        expected_improvement=gain,
        implementation_effort=Level.MEDIUM,
        risk_level=Level.LOW,
        specific_changes=(
            investigate(None, "sla_targets.max_execution_time", apply),
            # The whole mapping, so that pasting it keeps the other target.
            set_change(
                ctx,
                None,
                "sla_targets",
                {
                    "max_execution_time": duration_text(p95),
                    **(
                        {"min_success_rate": ctx.sla.min_success_rate}
                        if ctx.sla.min_success_rate is not None
                        else {}
                    ),
                },
                {"max_execution_time": target},
            ),
        ),
        evidence=evidence(target=target, p95=p95, missed_share=missed, projected_p95=projected),
    )


def _success_rate(ctx: Context) -> Recommendation | None:
    target = ctx.sla.min_success_rate
    if target is None or ctx.success_rate >= target:
        return None
    helpers = [r for r in ctx.found if r.type in _RELIABILITY and r.expected_improvement > 0]
    # Independent savings compose multiplicatively.
    kept = math.prod(1 - r.expected_improvement / 100 for r in helpers)
    gain = 100 * (1 - kept)
    failing = sorted(
        (v for v in ctx.steps.values() if v.aggregate.failures),
        key=lambda v: (-v.aggregate.failures, v.name),
    )[:3]
    names = ", ".join(f"'{v.file_id}' ({v.aggregate.failures})" for v in failing)
    text = f"Success rate {percent(ctx.success_rate)} is under the SLA target of {percent(target)}."
    if names:
        text += f" Most failures: {names}."
    if helpers:
        text += f" See {', '.join(r.id for r in helpers)}."
    return Recommendation(
        id="sla:min_success_rate",
        type=RecommendationType.SLA,
        description=text,
        expected_improvement=gain,
        implementation_effort=Level.MEDIUM,
        risk_level=Level.LOW,
        specific_changes=(
            investigate(
                None,
                "sla_targets.min_success_rate",
                {
                    "apply": [r.id for r in helpers],
                    "failing_steps": [v.file_id for v in failing],
                },
            ),
        ),
        steps=tuple(v.file_id for v in failing),
        evidence=evidence(target=target, success_rate=ctx.success_rate),
    )
