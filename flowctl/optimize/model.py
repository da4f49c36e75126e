"""The replay model of a workflow: median step durations on its DAG, level by level.

Each container's children form a level. The replay (optimize/simulate.py) runs them as
the runner does: leaves hold one of the run's `max_parallel_steps` slots, containers hold
none, a parallel's `max_concurrency` and a loop's workers bound their children, a retry's
wait between attempts holds no slot. Every `expected_improvement` is a makespan of this
model with a Change applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from msgspec import Struct, field

from flowctl.optimize.simulate import Replayed, Simulation

_NO_DURATIONS: Mapping[str, float] = MappingProxyType({})


class Level(Struct, frozen=True):
    """The steps directly inside one container (None: the top level) and their edges."""

    container: str | None
    nodes: tuple[str, ...]
    edges: frozenset[tuple[str, str]]
    max_parallel: int | None  # the top level: the run's limit (None: no limit)
    kind: str = ""  # "parallel" or "loop" for a container's level
    iterations: int = 1  # loops: iterations a run
    concurrency: int | None = None  # parallel: max_concurrency; loop: iterations at once


class Change(Struct, frozen=True):
    """What a recommendation changes: step durations, dropped edges, the concurrency limit.

    A duration given for a container replays it as one delay of that length, holding no
    slot; `waits` are seconds a leaf waits between attempts, holding no slot.
    """

    durations: Mapping[str, float] = field(default_factory=lambda: _NO_DURATIONS)
    waits: Mapping[str, float] = field(default_factory=lambda: _NO_DURATIONS)
    removed_edges: frozenset[tuple[str, str]] = frozenset()
    max_parallel: int | None = None
    sets_max_parallel: bool = False  # max_parallel above is meant (None = no limit)

    def combine(self, other: Change) -> Change:
        """Both changes at once: the shorter duration, every dropped edge, the larger limit."""
        durations = dict(self.durations)
        for node, value in other.durations.items():
            durations[node] = min(value, durations.get(node, value))
        waits = dict(self.waits)
        for node, value in other.waits.items():
            waits[node] = min(value, waits.get(node, value))
        limit, sets = self.max_parallel, self.sets_max_parallel
        if other.sets_max_parallel:
            if not sets:
                limit, sets = other.max_parallel, True
            elif limit is not None:
                limit = None if other.max_parallel is None else max(limit, other.max_parallel)
        return Change(
            durations=MappingProxyType(durations),
            waits=MappingProxyType(waits),
            removed_edges=self.removed_edges | other.removed_edges,
            max_parallel=limit,
            sets_max_parallel=sets,
        )


class DagModel:
    """Median durations on a hierarchy of levels; `makespan(change)` replays it."""

    def __init__(
        self,
        levels: Mapping[str | None, Level],
        durations: Mapping[str, float],
        waits: Mapping[str, float] | None = None,
    ):
        self.levels = dict(levels)
        self.durations = dict(durations)
        self.waits = dict(waits or {})
        self.parent: dict[str, str | None] = {
            node: level.container for level in self.levels.values() for node in level.nodes
        }
        self._base = self.replay(Change())
        self.baseline = self._base.makespan

    @property
    def top(self) -> Level:
        return self.levels[None]

    @property
    def base(self) -> Replayed:
        """The replay with nothing changed: when each step finished, the peak width."""
        return self._base

    def makespan(self, change: Change) -> float:
        """The top-level makespan with `change` applied."""
        return self.replay(change).makespan

    def replay(self, change: Change, *, unlimited: bool = False) -> Replayed:
        """The replay with `change` applied (and no slot limit at all when `unlimited`)."""
        durations: Mapping[str, float] = self.durations
        if change.durations:
            durations = {**self.durations, **change.durations}
        waits: Mapping[str, float] = self.waits
        if change.waits:
            waits = {**self.waits, **change.waits}
        limit = change.max_parallel if change.sets_max_parallel else self.top.max_parallel
        opaque = frozenset(n for n in change.durations if n in self.levels)
        return Simulation(
            self.levels,
            durations,
            waits,
            removed=change.removed_edges,
            limit=None if unlimited else limit,
            opaque=opaque,
        ).run()

    def improvement(self, change: Change, *, baseline: float | None = None) -> float:
        """Percent of the baseline makespan saved by `change` (0 when nothing is saved)."""
        return self.improvement_of(self.makespan(change), baseline=baseline)

    def improvement_of(self, makespan: float, *, baseline: float | None = None) -> float:
        """Percent of the baseline makespan saved by a replay that took `makespan`."""
        base = self.baseline if baseline is None else baseline
        if base <= 0:
            return 0.0
        return max(0.0, 100.0 * (base - makespan) / base)

    def with_durations(
        self, durations: Mapping[str, float], waits: Mapping[str, float] | None = None
    ) -> float:
        """The makespan when some steps take other durations (a scenario, not a change)."""
        return self.makespan(Change(durations=durations, waits=waits or _NO_DURATIONS))
