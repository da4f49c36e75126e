"""Views see loop iterations by their labels: `compile[lapi.c].cc`, not `compile[3].cc`.

One wrapper around each view observer rewrites the step ids of the events it passes on,
so every view (plain lines, live board, output blocks, GitHub groups and annotations)
shows labels without knowing about them. The journal is not wrapped: it keeps the stable
index-based ids.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

from msgspec.structs import replace

from flowctl.runner.events import LoopLabelled, PausingObserver, RunEvent, RunObserver
from flowctl.runner.looplabels import journal_labels, labelled
from flowctl.runner.results import RunResult

_QUOTED_ID = re.compile(r"'([A-Za-z0-9_\-]+\[[0-9]+\][^'\s]*)'")


class LoopLabels:
    """The labels of the run's loops so far, by loop id; shared by the wrappers."""

    def __init__(self, known: Mapping[str, Sequence[str]] | None = None) -> None:
        self.by_loop: dict[str, Sequence[str]] = dict(known or {})

    def show(self, step_id: str) -> str:
        return labelled(step_id, self.by_loop) if self.by_loop else step_id

    def event(self, event: RunEvent) -> RunEvent:
        """`event` with its step ids shown by label (the same object when nothing changes)."""
        if isinstance(event, LoopLabelled):
            self.by_loop[event.step] = event.labels
            return event
        if not self.by_loop:
            return event
        changes: dict[str, object] = {}
        for name in ("step", "parent"):
            value = getattr(event, name, None)
            if isinstance(value, str) and "[" in value:
                changes[name] = self.show(value)
        for name in ("steps", "failures"):
            value = getattr(event, name, None)
            if isinstance(value, tuple) and any("[" in v for v in value):
                changes[name] = tuple(self.show(v) for v in value)
        if not changes:
            return event
        replaced: RunEvent = replace(cast(Any, event), **changes)
        return replaced


class Labelling:
    """A view observer that sees step ids by label (see LoopLabels)."""

    def __init__(self, inner: RunObserver, labels: LoopLabels) -> None:
        self.inner = inner
        self._labels = labels

    def handle(self, event: RunEvent) -> None:
        self.inner.handle(self._labels.event(event))

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        if isinstance(self.inner, PausingObserver):
            with self.inner.paused():
                yield
        else:
            yield


def labelling(observers: Sequence[RunObserver], labels: LoopLabels) -> list[RunObserver]:
    """Each observer wrapped; the first wrapper records the labels the others read."""
    return [Labelling(o, labels) for o in observers]


def labelled_result(result: RunResult) -> RunResult:
    """`result` with loop iterations named by label (from the run's journal), for the
    summary, the failure tails, the JUnit file and the CI summary."""
    if result.paths is None:
        return result
    if not any("[" in qid for qid in result.steps):
        return result  # no loop iteration ran: nothing to name, no journal to read
    labels = journal_labels(result.paths.audit)
    if not labels:
        return result

    def show(step_id: str) -> str:
        return labelled(step_id, labels)

    def said(text: str | None) -> str | None:
        # Error messages quote step ids ("step 'tests[5].tox' failed"): name them by label.
        if text is None or "[" not in text:
            return text
        return _QUOTED_ID.sub(lambda m: f"'{show(m.group(1))}'", text)

    steps = {
        show(qid): replace(
            r, id=show(r.id), parent=show_parent(r.parent, labels), error=said(r.error)
        )
        for qid, r in result.steps.items()
    }
    return replace(
        result,
        steps=steps,
        error=said(result.error),
        root_cause=None if result.root_cause is None else show(result.root_cause),
        waiting=tuple(show(s) for s in result.waiting),
        failures=tuple(show(s) for s in result.failures),
    )


def show_parent(parent: str | None, labels: Mapping[str, Sequence[str]]) -> str | None:
    return None if parent is None else labelled(parent, labels)
