"""Checks of how control flows through each scope: cycles, never-running and unreachable steps."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import combinations, pairwise

from flowctl.errors import Problem, Severity
from flowctl.graph.index import StepIndex, quote_ids, where
from flowctl.graph.refs import EdgeKind
from flowctl.graph.scope import Scope, format_cycle
from flowctl.spec.model import ConditionStep, Step, TriggerRule

_EDGE_KEYS = {
    EdgeKind.NEXT_STEP: "next_steps",
    EdgeKind.CASE: "cases",
    EdgeKind.ERROR_HANDLER: "error_handlers",
}

DEFAULT_CASE = -1  # stands for a condition's `default` among its case indexes


def check_flow(index: StepIndex) -> Iterator[Problem]:
    """Cycles and never-running steps (errors), then unreachable steps (warnings).

    Scopes are visited parents first, so the children of a container that can never run
    are not reported again one by one.
    """
    handlers = index.workflow.error_handler_ids()
    blocked: set[str] = set()  # containers that can never run
    for key, steps in index.scopes.items():
        scope = index.scope(key)
        cycles = scope.cycles
        yield from _cycle_problems(scope, cycles)
        # A step on a cycle is reported once, as part of the cycle.
        on_cycles = {step_id for path in cycles for step_id in path}
        roots = {
            step_id: message
            for step_id, message in _never_runs(scope, handlers)
            if step_id not in on_cycles
        }
        for step_id, message in roots.items():
            yield Problem(
                message,
                where(scope.steps[step_id], "dependencies", "trigger_rule"),
                path=step_id,
                code="never-runs",
            )
        if key in blocked:
            blocked.update(s.id for s in steps if s.children())
            continue
        if cycles:
            continue
        for problem in _unreachable(scope, handlers, roots):
            if problem.path is not None:
                blocked.add(problem.path)
            yield problem
        blocked.update(roots)


def _cycle_problems(scope: Scope, cycles: list[list[str]]) -> Iterator[Problem]:
    for path in cycles:
        earlier, later = path[-2], path[-1]
        kind = scope.edges[earlier, later]
        # Point at the key that closes the cycle: the dependency list of the later step,
        # or the next_steps / cases / error_handlers of the earlier one.
        if kind is EdgeKind.DEPENDENCY:
            owner, key = later, "dependencies"
        elif kind is EdgeKind.FILES:
            owner, key = later, "sources"
        else:
            owner, key = earlier, _EDGE_KEYS[kind]
        files = any(scope.edges.get((u, v)) is EdgeKind.FILES for u, v in pairwise(path))
        yield Problem(
            f"cycle: {format_cycle(path)}"
            + (" (through files: sources/generates)" if files else ""),
            where(scope.steps[owner], key),
            path=owner,
            code="cycle",
        )


def _never_runs(scope: Scope, handlers: frozenset[str]) -> Iterator[tuple[str, str]]:
    """(step id, message) for each step that no run of the workflow can start."""
    branches = _branches(scope.steps.values())
    for step_id, step in scope.steps.items():
        if step_id in handlers or step.trigger_rule is TriggerRule.ALL_DONE:
            continue
        preds = scope.preds_of(step_id)
        if preds and all(p in handlers for p in preds):
            which = "which runs only as an error handler"
            if len(preds) > 1:
                which = "which run only as error handlers"
            needs = quote_ids(_by_order(scope, preds))
            yield step_id, f"step '{step_id}' can never run: it depends only on {needs}, {which}"
        elif step.trigger_rule is TriggerRule.ALL_SUCCESS:
            conflict = _exclusive(_by_order(scope, preds), branches)
            if conflict is not None:
                condition, needed = conflict
                if len(needed) == 2:
                    need = f"both {quote_ids(needed)}"
                    runs = "runs only one of them"
                else:
                    need = f"all of {quote_ids(needed)}"
                    runs = "never runs them all"
                yield (
                    step_id,
                    f"step '{step_id}' can never run: trigger_rule all_success needs {need},"
                    f" but condition '{condition}' {runs}"
                    " (use trigger_rule none_failed to join branches)",
                )


def _branches(steps: Iterable[Step]) -> dict[str, dict[str, frozenset[int]]]:
    """target id -> condition id -> the cases (DEFAULT_CASE for default) that run it."""
    table: dict[str, dict[str, set[int]]] = {}
    for step in steps:
        if not isinstance(step, ConditionStep):
            continue
        for c, case in enumerate(step.cases):
            for target in case.next_steps:
                table.setdefault(target, {}).setdefault(step.id, set()).add(c)
        for target in step.default:
            table.setdefault(target, {}).setdefault(step.id, set()).add(DEFAULT_CASE)
    return {t: {k: frozenset(v) for k, v in by.items()} for t, by in table.items()}


def _exclusive(
    preds: Sequence[str], branches: dict[str, dict[str, frozenset[int]]]
) -> tuple[str, list[str]] | None:
    """A condition and the dependencies it never runs together, if there is one."""
    groups: dict[str, list[str]] = {}
    for pred in preds:
        for condition in branches.get(pred, {}):
            groups.setdefault(condition, []).append(pred)
    for condition, members in groups.items():
        if len(members) < 2:
            continue
        cases = [branches[m][condition] for m in members]
        if frozenset.intersection(*cases):
            continue
        for (a, ca), (b, cb) in combinations(zip(members, cases, strict=True), 2):
            if not ca & cb:
                return condition, [a, b]
        return condition, members
    return None


def _unreachable(
    scope: Scope, handlers: frozenset[str], roots: dict[str, str]
) -> Iterator[Problem]:
    """Steps that wait only on steps that can never run (the roots are errors already)."""
    runs: dict[str, bool] = {}
    for step_id in scope.topological_order or ():
        step = scope.steps[step_id]
        if step_id in roots:
            runs[step_id] = False
            continue
        if step_id in handlers:
            triggers = scope.triggers_of(step_id)
            runs[step_id] = not triggers or any(runs[t] for t in triggers)
            if not runs[step_id]:
                yield Problem(
                    f"error handler '{step_id}' is unreachable from any entry:"
                    f" it handles only {quote_ids(_by_order(scope, triggers))},"
                    " which can never run",
                    step.location,
                    path=step_id,
                    severity=Severity.WARNING,
                    code="unreachable",
                )
            continue
        preds = scope.preds_of(step_id)
        blockers = [p for p in preds if not runs[p]]
        if step.trigger_rule is TriggerRule.ALL_DONE or not blockers:
            runs[step_id] = True
        elif step.trigger_rule is TriggerRule.ALL_SUCCESS:
            runs[step_id] = False
        else:
            runs[step_id] = len(blockers) < len(preds)
        if not runs[step_id]:
            yield Problem(
                f"step '{step_id}' is unreachable from any entry:"
                f" it waits on {quote_ids(_by_order(scope, blockers))}, which can never run",
                where(step, "dependencies"),
                path=step_id,
                severity=Severity.WARNING,
                code="unreachable",
            )


def _by_order(scope: Scope, ids: Iterable[str]) -> list[str]:
    return sorted(ids, key=scope.order.__getitem__)
