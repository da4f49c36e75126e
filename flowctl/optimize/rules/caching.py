"""caching: steps whose inputs repeat across runs and always give the same outputs."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flowctl.files.effects import undeclared_shell
from flowctl.optimize.model import Change
from flowctl.optimize.report import Level, Recommendation, RecommendationType
from flowctl.optimize.rules.base import Context, StepView, evidence, percent, set_change

MIN_SAMPLES = 5  # completed executions that recorded input and output hashes
MIN_REPEATS = 3  # executions whose inputs had been seen before
MIN_REPEAT_RATE = 0.2  # repeats / samples

# Each candidate costs a replay of the DAG: the ones that can save the most are replayed.
MAX_REPLAYS = 32

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _candidates(ctx: Context) -> list[tuple[StepView, int, float, float]]:
    """Steps a cache would serve, by the most time a cache could save them, largest first."""
    found = []
    for view in ctx.steps.values():
        agg = view.aggregate
        if not view.does_work or view.cached or agg.with_hashes < MIN_SAMPLES:
            continue
        if view.spec is not None and undeclared_shell(view.spec):
            continue  # same params, yet it may read files that changed: declare_files says so
        repeats, inconsistent = agg.cache_repeats()
        if inconsistent or repeats < MIN_REPEATS:
            continue  # the same inputs gave different outputs: a cache would be wrong
        rate = repeats / agg.with_hashes
        if rate >= MIN_REPEAT_RATE:
            found.append((view, repeats, rate, ctx.model.durations.get(view.name, 0.0)))
    found.sort(key=lambda c: -c[2] * c[3])
    return found[:MAX_REPLAYS]


def caching(ctx: Context) -> Iterator[Recommendation]:
    for view, repeats, rate, duration in _candidates(ctx):
        agg = view.aggregate
        change = Change(durations={view.name: duration * (1.0 - rate)})
        key = cache_key(ctx, view)
        yield Recommendation(
            id=f"caching:{view.file_id}",
            type=RecommendationType.CACHING,
            description=(
                f"Step '{view.file_id}' saw the same inputs again in {repeats} of "
                f"{agg.with_hashes} executions ({percent(rate)}) and returned the same "
                "outputs every time: a cache would skip those executions. Key the cache on "
                "everything the step reads; add a ttl if its outputs can go stale."
            ),
            expected_improvement=ctx.model.improvement(change),
            implementation_effort=Level.LOW,
            # A hit skips the step's side effects, if it has any.
            risk_level=Level.MEDIUM,
            specific_changes=(set_change(ctx, view, "cache", {"key": key}),),
            steps=(view.file_id,),
            evidence=evidence(
                samples=agg.with_hashes,
                repeats=repeats,
                hit_rate=rate,
                median_duration=duration,
                untracked_inputs=agg.untracked,
            ),
            change=change,
        )


def cache_key(ctx: Context, view: StepView) -> str:
    """A key template over what the step reads (its params, and with --spec the rest)."""
    parts = []
    spec = view.spec
    if spec is None or spec.input_mapping:
        parts.append("{{ params | tojson }}")
    if spec is not None and ctx.dataflow is not None:
        for path in sorted(ctx.dataflow.reads(spec.id)):
            if path[0] in ("params", "result", "env"):
                continue
            parts.append("{{ " + _expression(path) + " | tojson }}")
    return " ".join(parts) if parts else view.file_id


def _expression(path: tuple[str, ...]) -> str:
    text = path[0]
    for part in path[1:]:
        text += f".{part}" if _IDENTIFIER.fullmatch(part) else f"[{part!r}]"
    return text
