"""Which changed paths concern a workflow: its spec, or a file some step's sources match."""

from __future__ import annotations

import os
from pathlib import Path

from flowctl.files.globmatch import normalize, overlap
from flowctl.files.patterns import is_glob
from flowctl.spec.model import ActionStep, Workflow


class SourceFilter:
    """Paths under `root` matching a `sources` pattern and no `generates` pattern.

    Templates count as `*` (any value); generated files are left out so that a run's own
    writes never trigger the next run; so is the state directory.
    """

    def __init__(self, wf: Workflow, root: Path, state_dir: Path, spec: Path) -> None:
        self.root = root.resolve()
        self.state = (
            state_dir.resolve() if state_dir.is_absolute() else (root / state_dir).resolve()
        )
        self.spec = spec.resolve()
        self.sources: list[str] = []
        self.generates: list[str] = []
        for step, _ in wf.walk():
            if not isinstance(step, ActionStep):
                continue
            base = step.command.working_dir or "" if step.command is not None else ""
            self.sources.extend(normalize(p, base) for p in step.sources)
            self.generates.extend(normalize(p, base) for p in step.generates)

    def relative(self, path: str) -> str | None:
        """The path relative to the root (posix), or None when outside it."""
        try:
            rel = Path(path).resolve().relative_to(self.root)
        except ValueError:
            return None
        return rel.as_posix()

    def __call__(self, path: str) -> bool:
        full = Path(path).resolve()
        if full == self.spec:
            return True
        if full == self.state or self.state in full.parents:
            return False
        rel = self.relative(path)
        if rel is None:
            return False
        if any(_matches(rel, g) for g in self.generates):
            return False
        return any(_matches(rel, s) for s in self.sources)


def _matches(path: str, pattern: str) -> bool:
    if not is_glob(pattern):
        return path == pattern
    return overlap(path, pattern)


def describe(paths: set[str], root: Path) -> str:
    shown = sorted(os.path.relpath(p, root) for p in paths)
    more = len(shown) - 3
    return ", ".join(shown[:3]) + (f" and {more} more" if more > 0 else "")
