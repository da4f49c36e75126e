"""A loop's outputs are journaled once: its children's events carry them.

A loop's `iterations` output repeats every child's outputs (each iteration's
`{child_id: outputs}`); journaling it again in the loop's own event made the journal grow
with the square of nesting and the loop's event line as big as all its children together.
The loop's event keeps only `count` and a marker; resume rebuilds `iterations` from the
children's own events (`<loop>[i].<child>`, `parent: <loop>`), which the journal holds
anyway. A for_each loop's `labels` are journaled once too, in its `loop_labels` line
(written when the loop starts): the loop's event leaves them out and resume puts them back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flowctl.runner.stored_outputs import kept
from flowctl.state.audit import AuditEvent

ITERATIONS = "iterations"
LABELS = "labels"
_JOURNALED_ELSEWHERE = frozenset({ITERATIONS, LABELS})
MARKER = "iterations_from"  # journal data key of a loop event whose iterations were left out
FROM_CHILDREN = "children"


def event_outputs(step_type: str, outputs: Mapping[str, Any]) -> Mapping[str, Any]:
    """What a step's finished event carries: a loop's outputs without `iterations` and
    `labels` (its children's events and its `loop_labels` line hold them)."""
    if step_type == "loop" and ITERATIONS in outputs:
        return {key: value for key, value in outputs.items() if key not in _JOURNALED_ELSEWHERE}
    return outputs


def journal_marker(step_type: str, outputs: Mapping[str, Any]) -> bool:
    """Whether a finished event's outputs lack a loop's iterations (see `event_outputs`)."""
    return step_type == "loop" and "count" in outputs and ITERATIONS not in outputs


def rebuild_loop_outputs(
    latest: Mapping[str, AuditEvent], labels: Mapping[str, list[str]] | None = None
) -> dict[str, dict[str, Any]]:
    """Each marked loop's outputs with `iterations` rebuilt from its children's events.

    `latest` maps a qualified id to its latest journal event, `labels` a for_each loop's
    id to the labels of its latest `loop_labels` line. Iterations are ordered by index
    and hold the children that have an event, each with its recorded outputs ({} when it
    recorded none, as for a skipped child); nested loops are rebuilt first.
    """
    children: dict[str, list[tuple[int, str, AuditEvent]]] = {}
    for qid, event in latest.items():
        parent = event.data.get("parent")
        if not isinstance(parent, str) or not qid.startswith(parent + "["):
            continue
        match = _CHILD.fullmatch(qid, len(parent))
        if match is not None:
            children.setdefault(parent, []).append((int(match[1]), match[2], event))
    rebuilt: dict[str, dict[str, Any]] = {}

    def outputs_of(qid: str, event: AuditEvent) -> Mapping[str, Any]:
        if qid in rebuilt:
            return rebuilt[qid]
        raw = event.data.get("outputs")
        if event.data.get(MARKER) != FROM_CHILDREN:
            return kept(raw) if isinstance(raw, Mapping) else {}  # big: a reference
        outputs = dict(raw) if isinstance(raw, Mapping) else {}
        by_index: dict[int, dict[str, Any]] = {}
        for index, local, child in sorted(
            children.get(qid, ()), key=lambda item: (item[0], item[2].seq)
        ):
            by_index.setdefault(index, {})[local] = outputs_of(f"{qid}[{index}].{local}", child)
        outputs[ITERATIONS] = [by_index[index] for index in sorted(by_index)]
        if labels is not None and qid in labels and LABELS not in outputs:
            outputs[LABELS] = list(labels[qid])
        rebuilt[qid] = outputs
        return outputs

    for qid, event in latest.items():
        if event.data.get(MARKER) == FROM_CHILDREN:
            outputs_of(qid, event)
    return rebuilt


_CHILD = re.compile(r"\[(\d+)\]\.([^.\[\]]+)")
