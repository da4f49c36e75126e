"""Agent slots: each agent is a pool of `max_concurrency` slots, handed out first in, first
out per capability.

A step that finds no free agent waits in its capability's queue holding nothing else (in
particular no `max_parallel_steps` slot: it takes that only once it has an agent). When a
slot comes free, the waiters of that agent's capabilities are served in arrival order; a
waiter that cannot use the free agent (it already failed there) lets the next one by.
Everything runs on the event loop thread: counts need no lock, and the count of an agent
can never pass its size, whichever loop iteration or parallel child asks.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Generic, TypeVar

from msgspec import Struct

from flowctl.runner.agents.registry import AgentRegistry
from flowctl.spec.model import AgentSpec

T = TypeVar("T")


class _Waiter(Struct, Generic[T]):
    """A step waiting for an agent. Offered the current counts, `decide` either takes an
    agent (returns it, with what to hand the step) or declines (None) and keeps its place."""

    decide: Callable[[], tuple[AgentSpec, T] | None]
    future: asyncio.Future[T]


class AgentPools(Generic[T]):
    """Busy counts of every agent and the FIFO queue of each capability."""

    def __init__(self, registry: AgentRegistry) -> None:
        self._registry = registry
        self.busy: dict[str, int] = dict.fromkeys(registry.agents, 0)
        self.peak: dict[str, int] = dict.fromkeys(registry.agents, 0)
        self._queues: dict[str, collections.deque[_Waiter[T]]] = {}
        # The agent granted to a waiter until its task resumes: a cancel in between must
        # give the slot back.
        self._granted: dict[int, AgentSpec] = {}

    def waiting(self, capability: str) -> int:
        return len(self._queues.get(capability, ()))

    async def acquire(self, capability: str, decide: Callable[[], tuple[AgentSpec, T] | None]) -> T:
        """Take a slot of the agent `decide` picks, now or when the step's turn comes."""
        queue = self._queues.get(capability)
        if not queue:
            taken = decide()
            if taken is not None:
                self._take(taken[0])
                return taken[1]
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(decide, future)
        self._queues.setdefault(capability, collections.deque()).append(waiter)
        self._serve(capability)  # earlier waiters may be unable to use what is free
        try:
            result = await future
        except asyncio.CancelledError:
            queue = self._queues.get(capability)
            if queue is not None and waiter in queue:
                queue.remove(waiter)
            elif future.done() and not future.cancelled():
                self._release_granted(waiter)
            raise
        self._granted.pop(id(waiter), None)
        return result

    def release(self, agent: AgentSpec) -> None:
        """Give back one slot of `agent` and serve whoever waits for it."""
        self.busy[agent.name] -= 1
        for capability in agent.capabilities:
            self._serve(capability)

    def _take(self, agent: AgentSpec) -> None:
        count = self.busy[agent.name] + 1
        assert count <= agent.max_concurrency, f"agent {agent.name} over its pool size"
        self.busy[agent.name] = count
        self.peak[agent.name] = max(self.peak[agent.name], count)

    def _serve(self, capability: str) -> None:
        queue = self._queues.get(capability)
        if not queue:
            return
        agents = self._registry.capable(capability)
        served: list[_Waiter[T]] = []
        for waiter in queue:
            if not any(self.busy[a.name] < a.max_concurrency for a in agents):
                break
            if waiter.future.done():  # cancelled while queued: dropped below
                served.append(waiter)
                continue
            taken = waiter.decide()
            if taken is None:
                continue
            self._take(taken[0])
            waiter.future.set_result(taken[1])
            self._granted[id(waiter)] = taken[0]
            served.append(waiter)
        for waiter in served:
            queue.remove(waiter)

    def _release_granted(self, waiter: _Waiter[T]) -> None:
        agent = self._granted.pop(id(waiter), None)
        if agent is not None:
            self.release(agent)
