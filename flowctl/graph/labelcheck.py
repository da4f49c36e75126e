"""A loop's `label` rendered for each item of a literal `for_each` list, as the run would.

The run renders every label before the first iteration starts, and a label that fails for
one item fails the whole loop at once. Porting a GitHub Actions matrix makes that easy to
write: `name: ${{ matrix.name || matrix.python }}` reads a key only some items have, which
GitHub treats as empty and flowctl's sandbox as an error. When `for_each` is a literal
list and the label reads only the item and `index`, every item is known before the run:
render them here so `validate` says it, at the label's line, instead of the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from flowctl.errors import ExpressionError, Location, Problem, Severity
from flowctl.graph.index import StepIndex
from flowctl.spec.model import LoopStep
from flowctl.spec.yamlload import LoadedDocument

CODE = "loop-label"


def check_loop_labels(index: StepIndex, doc: LoadedDocument | None = None) -> Iterator[Problem]:
    """One error per loop whose label fails for an item of its literal list."""
    at = _label_locations(doc) if doc is not None else {}
    for placed in index.placed.values():
        step = placed.step
        if (
            not isinstance(step, LoopStep)
            or step.label is None
            or not isinstance(step.for_each, tuple)
        ):
            continue
        problem = _first_failure(step, at.get(step.id) or step.where("loop"))
        if problem is not None:
            yield problem


def _label_locations(doc: LoadedDocument) -> Mapping[str, Location]:
    """Where each loop's `label` value is written, by the loop's id."""
    found: dict[str, Location] = {}
    for path, location in doc.locations.items():
        if path[-2:] != ("loop", "label"):
            continue
        node: Any = doc.data
        for part in path[:-2]:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                node = None
                break
        if isinstance(node, dict) and isinstance(node.get("id"), str):
            found.setdefault(node["id"], location)
    return found


def _first_failure(step: LoopStep, location: Location) -> Problem | None:
    from flowctl.expressions import compile_template
    from flowctl.expressions.references import references

    label = step.label
    assert label is not None and isinstance(step.for_each, tuple)
    try:
        read = {path[0] for path in references(label, template=True)}
        template = compile_template(label)
    except ExpressionError:
        return None  # a syntax error: the template checks report it
    if not read <= {step.as_, "index"}:
        return None  # it reads what only the run knows (workflow, inputs, steps)
    for number, item in enumerate(step.for_each):
        try:
            template.render({step.as_: item, "index": number})
        except ExpressionError as err:
            return Problem(
                code=CODE,
                message=(
                    f"loop '{step.id}': label {label!r} fails for item {number} "
                    f"({_short(item)}): {err.reason}; the run would fail the loop before "
                    f"its first iteration (for a key only some items have, write "
                    f"`{step.as_}.KEY | default(...)`)"
                ),
                location=location,
                severity=Severity.ERROR,
            )
    return None


def _short(item: object) -> str:
    text = json.dumps(item, ensure_ascii=False, default=str, sort_keys=True)
    return text if len(text) <= 60 else text[:59] + "…"
