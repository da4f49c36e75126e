"""parallelization: dependencies that carry no data, found in the spec (needs --spec)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from flowctl.optimize.model import Change
from flowctl.optimize.report import (
    ChangeAction,
    Level,
    Recommendation,
    RecommendationType,
    SpecificChange,
)
from flowctl.optimize.rules.base import Context, StepView, evidence, seconds, step_yaml
from flowctl.spec.model import ConditionStep, Step, TriggerRule

# Below this many percent of the makespan an edge is not worth an edit.
MIN_IMPROVEMENT = 0.1
# Each candidate costs a full replay of the DAG; on a big workflow with many loose edges the
# most promising ones (by an upper bound on what they can save) are replayed, no more.
MAX_REPLAYS = 32


def _candidates(ctx: Context) -> list[tuple[str, list[str]]]:
    """Loose dependencies grouped by dependent step, most promising first.

    A dependency can only shorten the run if it held the dependent back in the median
    replay (it was the dependent's last dependency to finish); what removing it can save is
    bounded by when the dependent became ready minus the latest finish of its others.
    """
    assert ctx.dataflow is not None
    ranked: list[tuple[float, str, list[str]]] = []
    for level in ctx.model.levels.values():
        loose: dict[str, list[str]] = {}
        for up, down in sorted(level.edges):
            a, b = ctx.steps.get(up), ctx.steps.get(down)
            if a is None or b is None or a.spec is None or b.spec is None:
                continue
            if ctx.dataflow.needed(a.file_id, b.file_id) is None:
                loose.setdefault(down, []).append(up)
        if not loose:
            continue
        finish = ctx.model.base.finish  # the first run of each step (iteration 0 in a loop)
        preds: dict[str, list[str]] = {}
        for up, down in level.edges:
            preds.setdefault(down, []).append(up)
        for down, ups in loose.items():
            # When the dependent became ready: its last dependency finished (it may then
            # still have waited for a slot, which removing the dependency can save too).
            ready = max(finish.get(p, 0.0) for p in preds[down])
            held = [u for u in ups if finish.get(u, 0.0) >= ready - 1e-9]
            if not held:
                continue
            others = [finish.get(p, 0.0) for p in preds[down] if p not in ups]
            ranked.append((ready - max(others, default=0.0), down, ups))
    ranked.sort(key=lambda item: -item[0])
    return [(down, ups) for bound, down, ups in ranked[:MAX_REPLAYS] if bound > 0]


def parallelization(ctx: Context) -> Iterator[Recommendation]:
    if ctx.dataflow is None:
        return
    model = ctx.model
    by_id = {s.id: s for s, _ in ctx.spec.walk()} if ctx.spec is not None else {}
    for down, ups in _candidates(ctx):
        change = Change(removed_edges=frozenset((up, down) for up in ups))
        after = model.makespan(change)
        gain = model.improvement_of(after)
        if gain < MIN_IMPROVEMENT:
            continue
        view = ctx.steps[down]
        names = ", ".join(f"'{ctx.steps[u].file_id}'" for u in ups)
        one = len(ups) == 1
        their, they = ("its", "it writes") if one else ("their", "they write")
        dependency = "dependency" if one else "dependencies"
        fails = (
            ""
            if view.spec is None or view.spec.trigger_rule is TriggerRule.ALL_DONE
            else f" It will then run even when {names} {'fails' if one else 'fail'}."
        )
        yield Recommendation(
            id=f"parallelization:{view.file_id}",
            type=RecommendationType.PARALLELIZATION,
            description=(
                f"Step '{view.file_id}' waits for {names} but reads none of {their} "
                f"outputs or of the workflow data {they}: without the "
                f"{dependency} the median run replays in {seconds(after)} instead of "
                f"{seconds(model.baseline)}.{fails}"
            ),
            expected_improvement=gain,
            implementation_effort=Level.LOW,
            # The order may still protect a side effect flowctl cannot see (a file).
            risk_level=Level.MEDIUM,
            specific_changes=_edits(ctx, [ctx.steps[u] for u in ups], view, by_id),
            steps=(view.file_id, *(ctx.steps[u].file_id for u in ups)),
            evidence=evidence(
                makespan_before=model.baseline,
                makespan_after=after,
                dependencies=[ctx.steps[u].file_id for u in ups],
            ),
            change=change,
        )


def _edits(
    ctx: Context, ups: list[StepView], down: StepView, by_id: Mapping[str, Step]
) -> tuple[SpecificChange, ...]:
    """The edits that drop the edges up -> down, where they are written: each upstream's
    `next_steps`, and the dependent's `dependencies` (one edit for all of those, so a join
    of n steps costs one list of n, not n lists of n - 1).

    The YAML of each edit is made only if the recommendation is reported (`render`).
    """
    edits: list[SpecificChange] = []
    in_dependencies: list[StepView] = []
    for up in ups:
        up_steps = up.spec.next_steps if up.spec is not None else ()
        if down.file_id not in up_steps:
            in_dependencies.append(up)
            continue
        rest = [s for s in up_steps if s != down.file_id]
        edits.append(
            SpecificChange(
                action=ChangeAction.REMOVE,
                step=up.file_id,
                key="next_steps",
                value=down.file_id,
                current=list(up_steps),
                render=_yaml_of(up.file_id, "next_steps", rest),
                location=ctx.where(up, "next_steps"),
            )
        )
    if not in_dependencies:
        return tuple(edits)
    written = _written_dependencies(by_id, down.spec) if down.spec is not None else []
    dropped = {up.file_id for up in in_dependencies}
    rest = [d for d in written if d not in dropped]
    where = ctx.where(down, "dependencies")
    if len(in_dependencies) == 1:
        (up,) = in_dependencies
        change = SpecificChange(
            action=ChangeAction.REMOVE,
            step=down.file_id,
            key="dependencies",
            value=up.file_id,
            current=written,
            render=_yaml_of(down.file_id, "dependencies", rest),
            location=where,
        )
    else:
        change = SpecificChange(
            action=ChangeAction.SET,
            step=down.file_id,
            key="dependencies",
            value=rest,
            current=written,
            render=_yaml_of(down.file_id, "dependencies", rest),
            location=where,
        )
    return (*edits, change)


def _yaml_of(step_id: str, key: str, value: list[str]) -> Callable[[], str]:
    return lambda: step_yaml(step_id, {key: value})


def _written_dependencies(by_id: Mapping[str, Step], step: Step) -> list[str]:
    """The step's `dependencies` as written: without those folded in from next_steps/cases."""
    written = []
    for dep in step.dependencies:
        other = by_id.get(dep)
        routed = other is not None and (
            step.id in other.next_steps
            or (isinstance(other, ConditionStep) and step.id in other.targets())
        )
        if not routed:
            written.append(dep)
    return written
