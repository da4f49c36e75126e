"""Routing strategies: which of the free, capable agents takes a step (SPEC.md 6).

- first_available: the first free agent in file order;
- round_robin: the next free agent after the one chosen last for this capability;
- least_busy: the free agent with the smallest share of its pool in use;
- adaptive: the free agent with the best score, an upper confidence bound on its success
  rate times its speed relative to the fastest candidate (see `adaptive_scores`).

Agents whose circuit is open are skipped while any other candidate is closed. Every
decision is a `Decision` with each candidate's state and score: the journal keeps it, so a
choice can be explained after the fact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from msgspec import Struct

from flowctl.runner.agents.learning import AgentLearning
from flowctl.spec.model import AgentSpec, Routing

# Adaptive routing waits for a busy agent rather than take a free one scoring below this
# share of it (a clearly worse agent is not worth using just because it is free).
WAIT_BELOW = 0.5
# Weight of the exploration bonus of UCB1: sqrt(2 ln N / n) * EXPLORATION. Well below 1:
# the bonus is scaled by speed with the rate, and at 1 it would drown a success-rate gap
# of 0.9 between two agents with 50 samples each; an agent never tried is tried first.
EXPLORATION = 0.1


class Candidate(Struct, frozen=True):
    """One capable agent as routing saw it."""

    agent: str
    free: bool  # a slot is free and its circuit lets attempts through
    busy: int  # slots in use
    size: int  # max_concurrency
    circuit_open: bool = False
    samples: int = 0
    success_rate: float | None = None
    p50: float | None = None
    score: float | None = None  # adaptive only; inf = never tried
    tried: bool = False  # this step already failed on it (failover)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"agent": self.agent, "busy": self.busy, "size": self.size}
        if self.tried:
            out["tried"] = True
        if self.circuit_open:
            out["circuit"] = "open"
        if self.score is not None:
            out["samples"] = self.samples
            out["success_rate"] = _round(self.success_rate)
            out["p50"] = _round(self.p50)
            out["score"] = "inf" if math.isinf(self.score) else _round(self.score)
        return out


class Decision(Struct, frozen=True):
    """The agent chosen for a step's next attempts, and why."""

    agent: AgentSpec
    strategy: Routing
    capability: str
    candidates: tuple[Candidate, ...]
    reason: str

    def to_json(self, queued: float) -> dict[str, object]:
        return {
            "capability": self.capability,
            "strategy": self.strategy.value,
            "chosen": self.agent.name,
            "reason": self.reason,
            "queued": round(queued, 6),
            "candidates": [c.to_json() for c in self.candidates],
        }


class Router:
    """Ranks candidates; keeps the round-robin position per capability."""

    def __init__(self, learning: AgentLearning) -> None:
        self.learning = learning
        self._next: dict[str, int] = {}

    def choose(
        self,
        strategy: Routing,
        capability: str,
        agents: Sequence[AgentSpec],
        *,
        busy: Mapping[str, int],
        open_circuit: Callable[[AgentSpec], bool],
        allowed: Callable[[AgentSpec], bool],
    ) -> Decision | None:
        """The decision among `agents` (all capable, file order), or None when no allowed
        agent is free (the step waits for one)."""
        circuit = [open_circuit(a) for a in agents]
        # Open circuits are skipped while a closed one exists; if all are open, the choice
        # goes on as usual and the attempt fails fast on its circuit (then fails over).
        skip_open = not all(c for c, a in zip(circuit, agents, strict=True) if allowed(a))
        free = [
            allowed(a)
            and busy.get(a.name, 0) < a.max_concurrency
            and not (skip_open and circuit[i])
            for i, a in enumerate(agents)
        ]
        scores = (
            adaptive_scores(self.learning, capability, agents)
            if strategy is Routing.ADAPTIVE
            else None
        )
        candidates = tuple(
            _candidate(a, free[i], busy.get(a.name, 0), circuit[i], scores, i, not allowed(a))
            for i, a in enumerate(agents)
        )
        choice = self._pick(strategy, capability, agents, candidates)
        if choice is None:
            return None
        return Decision(
            agent=agents[choice],
            strategy=strategy,
            capability=capability,
            candidates=candidates,
            reason=_reason(strategy, candidates[choice], candidates),
        )

    def _pick(
        self,
        strategy: Routing,
        capability: str,
        agents: Sequence[AgentSpec],
        candidates: Sequence[Candidate],
    ) -> int | None:
        free = [i for i, c in enumerate(candidates) if c.free]
        if not free:
            return None
        if strategy is Routing.ROUND_ROBIN:
            start = self._next.get(capability, 0) % len(agents)
            choice = min(free, key=lambda i: (i - start) % len(agents))
            self._next[capability] = choice + 1
            return choice
        if strategy is Routing.LEAST_BUSY:
            return min(free, key=lambda i: (candidates[i].busy / candidates[i].size, i))
        if strategy is Routing.ADAPTIVE:
            best = max(free, key=lambda i: (candidates[i].score or 0.0, -i))
            if _worth_waiting(candidates, best):
                return None
            return best
        return free[0]


class Score(Struct, frozen=True):
    samples: int
    success_rate: float | None
    p50: float | None
    score: float


def adaptive_scores(
    learning: AgentLearning, capability: str, agents: Sequence[AgentSpec]
) -> list[Score]:
    """Each agent's score: (success rate + exploration bonus) * speed.

    The success rate is over the agent's recent attempts; the bonus is UCB1's
    sqrt(2 ln N / n) * EXPLORATION (N: samples of all candidates, n: this agent's), so an
    agent with few samples is tried now and then; speed is the fastest candidate's median
    latency divided by this agent's (1 for the fastest). The score is thus "successes per
    unit of time, optimistically": a fast agent that fails half the time ranks like a
    reliable one twice as slow. An agent never tried scores infinity (it is tried first).
    """
    summaries = [learning.summary(capability, a.name) for a in agents]
    total = sum(s.samples for s in summaries)
    known = [s.p50 for s in summaries if s.p50 is not None and s.p50 > 0]
    fastest = min(known) if known else None
    out = []
    for summary in summaries:
        rate = summary.success_rate
        if rate is None:
            out.append(Score(0, None, None, math.inf))
            continue
        bonus = EXPLORATION * math.sqrt(2 * math.log(max(total, 2)) / summary.samples)
        speed = 1.0
        if fastest is not None and summary.p50 is not None and summary.p50 > 0:
            speed = fastest / summary.p50
        out.append(Score(summary.samples, rate, summary.p50, (rate + bonus) * speed))
    return out


def _worth_waiting(candidates: Sequence[Candidate], best_free: int) -> bool:
    """Whether a busy, closed-circuit agent scores so much higher than the best free one
    that the step should wait for it (never when the better one was never tried)."""
    free_score = candidates[best_free].score or 0.0
    busy = [
        c.score
        for c in candidates
        if not c.free and not c.tried and not c.circuit_open and c.score is not None and c.busy
    ]
    if not busy or math.isinf(free_score):
        return False
    top = max(busy)
    return not math.isinf(top) and free_score < WAIT_BELOW * top


def _candidate(
    agent: AgentSpec,
    free: bool,
    busy: int,
    circuit_open: bool,
    scores: Sequence[Score] | None,
    index: int,
    tried: bool,
) -> Candidate:
    if scores is None:
        return Candidate(agent.name, free, busy, agent.max_concurrency, circuit_open, tried=tried)
    score = scores[index]
    return Candidate(
        agent.name,
        free,
        busy,
        agent.max_concurrency,
        circuit_open,
        samples=score.samples,
        success_rate=score.success_rate,
        p50=score.p50,
        score=score.score,
        tried=tried,
    )


def _reason(strategy: Routing, chosen: Candidate, candidates: Sequence[Candidate]) -> str:
    others_busy = any(not c.free for c in candidates)
    if strategy is Routing.ADAPTIVE:
        if chosen.score is not None and math.isinf(chosen.score):
            return "never tried: explored first"
        return "highest score among free agents" if others_busy else "highest score"
    if strategy is Routing.ROUND_ROBIN:
        return "next in turn"
    if strategy is Routing.LEAST_BUSY:
        return "least busy"
    return "first free in file order" if others_busy else "first in file order"


def _round(value: float | None) -> float | None:
    return round(value, 6) if value is not None else None
