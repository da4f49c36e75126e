"""What each agent did, per capability: the samples adaptive routing learns from.

Samples come from the history file (earlier runs), from the journal of a resumed run and
from this run's attempts. Only the most recent WINDOW samples of an agent count, so
routing follows an agent that starts failing (or recovers) within a few dozen attempts
instead of averaging over its whole past.
"""

from __future__ import annotations

import collections
import statistics
from collections.abc import Iterable
from pathlib import Path

from msgspec import Struct

WINDOW = 50  # samples per (capability, agent) that count


class Sample(Struct, frozen=True):
    ok: bool
    duration: float  # seconds of the attempt


class AgentSummary(Struct, frozen=True):
    """An agent's recent record for one capability."""

    samples: int
    successes: int
    p50: float | None  # median duration of successful attempts (of all, if none succeeded)

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.samples if self.samples else None


class AgentLearning:
    """Recent samples by (capability, agent)."""

    def __init__(self) -> None:
        self._samples: dict[tuple[str, str], collections.deque[Sample]] = {}
        # Summaries are read at every routing decision and change only when a sample is
        # added: computed once per change (a median of up to WINDOW values).
        self._summaries: dict[tuple[str, str], AgentSummary] = {}

    def add(self, capability: str, agent: str, *, ok: bool, duration: float) -> None:
        key = (capability, agent)
        window = self._samples.get(key)
        if window is None:
            window = self._samples[key] = collections.deque(maxlen=WINDOW)
        window.append(Sample(ok, max(0.0, duration)))
        self._summaries.pop(key, None)

    def summary(self, capability: str, agent: str) -> AgentSummary:
        key = (capability, agent)
        known = self._summaries.get(key)
        if known is not None:
            return known
        window = self._samples.get(key)
        if not window:
            return AgentSummary(0, 0, None)
        good = [s.duration for s in window if s.ok]
        durations = good or [s.duration for s in window]
        summary = self._summaries[key] = AgentSummary(
            len(window), len(good), statistics.median(durations)
        )
        return summary

    def load_history(self, path: Path, workflow: str, *, skip_run: str | None = None) -> None:
        """Add the agent attempts of earlier runs of `workflow` (oldest first); a missing or
        unreadable history teaches nothing and is not an error here. `skip_run` is the run
        being resumed: its earlier sessions are learnt from its journal instead."""
        from flowctl.errors import FlowctlError
        from flowctl.state.history import iter_history

        if not path.is_file():
            return
        try:
            for record in iter_history(path, issues=[]):
                if record.workflow != workflow or record.run_id == skip_run:
                    continue
                for step in record.steps:
                    if step.capability is None:
                        continue
                    for attempt in step.agent_attempts:
                        self.add(
                            step.capability, attempt.agent, ok=attempt.ok, duration=attempt.duration
                        )
        except (OSError, FlowctlError):
            return

    def extend(self, capability: str, agent: str, samples: Iterable[Sample]) -> None:
        for sample in samples:
            self.add(capability, agent, ok=sample.ok, duration=sample.duration)


class JournalSample(Struct, frozen=True):
    """One attempt on an agent, as a journal of an earlier session recorded it."""

    capability: str
    agent: str
    ok: bool
    duration: float
