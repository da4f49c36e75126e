"""Checks that every step id is unique and every reference names a step of its own scope."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from flowctl.errors import Location, Problem
from flowctl.graph.index import StepIndex, where
from flowctl.graph.refs import EdgeKind, Ref
from flowctl.spec.model import ConditionStep

# difflib costs up to ~30 us per candidate id compared; a file with thousands of typos in a
# scope of thousands of steps must not make validation quadratic, so suggestions stop once
# this many comparisons are spent (about half a second at worst).
_SUGGESTION_BUDGET = 20_000


def check_ids(index: StepIndex) -> Iterator[Problem]:
    for dup in index.duplicates:
        yield Problem(
            f"duplicate step id '{dup.step.id}' (first defined at {where(dup.first, 'id')})",
            where(dup.step, "id"),
            path=dup.step.id,
            code="duplicate-id",
        )


def check_refs(index: StepIndex) -> Iterator[Problem]:
    """Unknown ids (with a did-you-mean from the same scope) and references across scopes."""
    budget = _SUGGESTION_BUDGET
    for scope in index.scopes:
        built = index.scope(scope)
        for ref in built.refs:
            if ref.folded:
                continue
            owner = ref.owner
            placed = index.placed.get(ref.target)
            if placed is None:
                hint = ""
                if len(built.steps) <= budget:
                    budget -= len(built.steps)
                    candidates = [i for i in built.steps if i != owner.id]
                    close = difflib.get_close_matches(ref.target, candidates, n=1)
                    if close:
                        hint = f" (did you mean '{close[0]}'?)"
                yield Problem(
                    _unknown(ref) + hint, ref_where(ref), path=owner.id, code="unknown-ref"
                )
            elif (placed.container.id if placed.container else None) != scope:
                yield Problem(
                    f"{_across(ref, index)}, a step of another scope; {_scope_hint(ref, index)}",
                    ref_where(ref),
                    path=owner.id,
                    code="cross-scope",
                )


def ref_where(ref: Ref) -> Location:
    """The location of the list item that makes the reference, or the nearest known key."""
    owner = ref.owner
    loc = owner.key_locations.get(f"{ref.key}[{ref.index}]") or owner.key_locations.get(ref.key)
    if loc is None and ref.case is not None and isinstance(owner, ConditionStep):
        loc = owner.cases[ref.case].location
    return loc or where(owner, "cases" if ref.kind is EdgeKind.CASE else ref.key)


def _unknown(ref: Ref) -> str:
    o, t = ref.owner.id, ref.target
    match ref.kind:
        case EdgeKind.DEPENDENCY | EdgeKind.FILES:
            return f"step '{o}' depends on unknown step '{t}'"
        case EdgeKind.NEXT_STEP:
            return f"step '{o}' lists unknown step '{t}' in next_steps"
        case EdgeKind.ERROR_HANDLER:
            return f"step '{o}' names unknown error handler '{t}'"
        case EdgeKind.CASE:
            return f"condition '{o}' routes to unknown step '{t}' in {_case_key(ref)}"


def _across(ref: Ref, index: StepIndex) -> str:
    o, t = ref.owner.id, ref.target
    so, st = index.describe_scope(o), index.describe_scope(t)
    match ref.kind:
        case EdgeKind.DEPENDENCY | EdgeKind.FILES:
            return f"step '{o}' ({so}) depends on '{t}' ({st})"
        case EdgeKind.NEXT_STEP:
            return f"step '{o}' ({so}) lists '{t}' ({st}) in next_steps"
        case EdgeKind.ERROR_HANDLER:
            return f"step '{o}' ({so}) names error handler '{t}' ({st})"
        case EdgeKind.CASE:
            return f"condition '{o}' ({so}) routes to '{t}' ({st}) in {_case_key(ref)}"


def _scope_hint(ref: Ref, index: StepIndex) -> str:
    match ref.kind:
        case EdgeKind.ERROR_HANDLER:
            return "an error handler must be a sibling of the step it handles"
        case EdgeKind.CASE:
            return "a condition may route only to its siblings"
        case _:
            earlier, later = ref.edge
            return index.scope_hint(later, earlier)


def _case_key(ref: Ref) -> str:
    return "default" if ref.case is None else f"cases[{ref.case}]"
