"""Dependencies implied by files: a step that reads what a sibling generates runs after it.

As Snakemake infers its DAG: when a `generates` pattern of A can match a `sources`
pattern of B in the same scope, B depends on A. Only siblings are linked (the scope rule:
never across a container's or loop's boundary); a step whose own generates match its own
sources is not its own dependency. Literal paths are looked up in a dict; a glob is
compared with the generated paths of its own directory only when that directory is
literal, so the work grows with the edges found, not with the square of the steps.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from msgspec.structs import replace

from flowctl.files.globmatch import normalize, overlap
from flowctl.files.patterns import is_glob
from flowctl.spec.model import ActionStep, Step


def _base(step: ActionStep) -> str:
    return step.command.working_dir or "" if step.command is not None else ""


def _literal_dir(pattern: str) -> str | None:
    """The directory part of a pattern when it has no wildcard, else None."""
    head = posixpath.dirname(pattern)
    return None if is_glob(head) else head


def file_edges(steps: Sequence[Step]) -> dict[str, list[str]]:
    """Consumer id -> producer ids (in file order) implied by files, for one scope."""
    literal: dict[str, list[str]] = {}  # generated path -> producers
    by_dir: dict[str, list[tuple[str, str]]] = {}  # directory -> (generated path, producer)
    globbed: list[tuple[str, str]] = []  # (generated pattern, producer)
    order: dict[str, int] = {}
    for index, step in enumerate(steps):
        order.setdefault(step.id, index)
        if not isinstance(step, ActionStep):
            continue
        for pattern in step.generates:
            path = normalize(pattern, _base(step))
            if is_glob(path):
                globbed.append((path, step.id))
            else:
                literal.setdefault(path, []).append(step.id)
                by_dir.setdefault(posixpath.dirname(path), []).append((path, step.id))
    if not literal and not globbed:
        return {}
    edges: dict[str, list[str]] = {}
    for step in steps:
        if not isinstance(step, ActionStep) or not step.sources:
            continue
        found: dict[str, None] = {}
        for pattern in step.sources:
            source = normalize(pattern, _base(step))
            if not is_glob(source):
                found.update(dict.fromkeys(literal.get(source, ())))
            else:
                folder = _literal_dir(source)
                candidates = (
                    by_dir.get(folder, ())
                    if folder is not None
                    else [(p, sid) for p, ids in literal.items() for sid in ids]
                )
                found.update(dict.fromkeys(sid for p, sid in candidates if overlap(p, source)))
            found.update(dict.fromkeys(sid for g, sid in globbed if overlap(g, source)))
        found.pop(step.id, None)  # its own generates matching its own sources: no cycle
        if found:
            edges[step.id] = sorted(found, key=order.__getitem__)
    return edges


def add_file_dependencies(steps: tuple[Step, ...]) -> tuple[Step, ...]:
    """The steps of one scope with their file-implied dependencies folded in.

    Each inferred upstream that was not already a dependency is added to `dependencies`
    and listed in `file_dependencies` (so the graph can draw it as inferred).
    """
    edges = file_edges(steps)
    if not edges:
        return steps
    out = []
    for step in steps:
        producers = edges.get(step.id)
        if not producers:
            out.append(step)
            continue
        added = tuple(p for p in producers if p not in step.dependencies)
        out.append(
            replace(step, dependencies=step.dependencies + added, file_dependencies=added)
            if added
            else step
        )
    return tuple(out)
