"""What the optimizer knows of the files steps read and write (their sources/generates).

A dependency carries data through files when a `generates` pattern of the upstream step (or
of a step inside it) can match a `sources` pattern of the downstream one, or the other way
round, or both generate the same files. Shell steps that declare neither may read or write
anything: an edge between two of them is unknown, never "unused".
"""

from __future__ import annotations

from collections.abc import Iterator

from flowctl.files.globmatch import normalize, overlap
from flowctl.spec.model import ActionStep, Step, Workflow

UNKNOWN = "file effects unknown"


def undeclared_shell(step: Step) -> bool:
    """A `run:` step that declares neither sources nor generates (`sources: []` declares
    that it reads no files)."""
    return (
        isinstance(step, ActionStep)
        and step.command is not None
        and "sources" not in step.key_locations
        and "generates" not in step.key_locations
    )


def _subtree(step: Step) -> Iterator[Step]:
    stack = [step]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.children())


def _patterns(step: ActionStep, patterns: tuple[str, ...]) -> list[str]:
    base = step.command.working_dir or "" if step.command is not None else ""
    return [normalize(p, base) for p in patterns]


class FileEffects:
    """Sources, generates and undeclared shell steps of every step (containers included)."""

    def __init__(self, workflow: Workflow) -> None:
        self.sources: dict[str, list[str]] = {}
        self.generates: dict[str, list[str]] = {}
        self.undeclared: dict[str, list[str]] = {}  # step -> undeclared shell steps inside
        for step, _ in workflow.walk():
            reads: list[str] = []
            writes: list[str] = []
            blind: list[str] = []
            for inner in _subtree(step):
                if isinstance(inner, ActionStep):
                    reads.extend(_patterns(inner, inner.sources))
                    writes.extend(_patterns(inner, inner.generates))
                    if undeclared_shell(inner):
                        blind.append(inner.id)
            self.sources[step.id] = reads
            self.generates[step.id] = writes
            self.undeclared[step.id] = blind

    def needed(self, upstream: str, downstream: str) -> str | None:
        """Why files make `downstream` wait for `upstream`; UNKNOWN when they cannot tell."""
        ups, downs = self.generates.get(upstream, []), self.sources.get(downstream, [])
        for made in ups:
            for read in downs:
                if overlap(made, read):
                    return f"reads files {read!r} that '{upstream}' generates"
        for made in self.generates.get(downstream, []):
            for read in self.sources.get(upstream, []):
                if overlap(made, read):
                    return f"generates {made!r}, which '{upstream}' reads"
            for other in ups:
                if overlap(made, other):
                    return f"both generate {made!r}"
        if self.undeclared.get(upstream) and self.undeclared.get(downstream):
            return f"{UNKNOWN}: shell steps that declare no sources or generates"
        return None
