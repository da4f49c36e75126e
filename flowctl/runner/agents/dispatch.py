"""The run's agent service: routing, pools, circuits and learning behind one object.

The scheduler builds one `AgentDispatcher` per run (when the workflow has agents); a step
asks it for an agent (`acquire`), runs its attempts there through the agent's executor,
reports each attempt (`observe`) and gives the slot back (`release`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from msgspec import Struct

from flowctl.runner.agents.invoke import AgentExecutor, AgentInvoker, LocalInvoker
from flowctl.runner.agents.learning import AgentLearning, JournalSample
from flowctl.runner.agents.pool import AgentPools
from flowctl.runner.agents.registry import AgentRegistry
from flowctl.runner.agents.routing import Decision, Router
from flowctl.runner.failure.circuit import CircuitBreakers, CircuitOpenError, CircuitState
from flowctl.spec.model import ActionStep, AgentSpec, Routing, Workflow


class Grant(Struct, frozen=True):
    """An agent slot given to a step: the decision, and how long the step queued for it."""

    decision: Decision
    queued: float

    @property
    def agent(self) -> AgentSpec:
        return self.decision.agent


class AgentSetup(Struct, frozen=True):
    """What a run's dispatcher starts from: the history to learn from, and the attempts
    of the run's earlier sessions (on resume)."""

    history: Path | None = None
    journal: tuple[JournalSample, ...] = ()
    invoker: AgentInvoker | None = None  # how agents execute (None: in this process)
    run_id: str | None = None  # the run: its own history lines are not learnt twice

    def dispatcher(self, wf: Workflow, breakers: CircuitBreakers) -> AgentDispatcher:
        return AgentDispatcher.for_run(
            wf,
            breakers=breakers,
            history=self.history,
            journal=self.journal,
            invoker=self.invoker,
            run_id=self.run_id,
        )


class AgentDispatcher:
    """Which agent runs a step's attempts, within every agent's pool size."""

    def __init__(
        self,
        wf: Workflow,
        *,
        breakers: CircuitBreakers,
        learning: AgentLearning | None = None,
        invoker: AgentInvoker | None = None,
    ) -> None:
        self.registry = AgentRegistry.of(wf)
        self.learning = learning if learning is not None else AgentLearning()
        self.router = Router(self.learning)
        self.pools: AgentPools[Grant] = AgentPools(self.registry)
        self.breakers = breakers
        self.routing = wf.routing
        self._invoker: AgentInvoker = invoker if invoker is not None else LocalInvoker()
        self._executors: dict[str, AgentExecutor] = {}

    @classmethod
    def for_run(
        cls,
        wf: Workflow,
        *,
        breakers: CircuitBreakers,
        history: Path | None,
        journal: Iterable[JournalSample] = (),
        invoker: AgentInvoker | None = None,
        run_id: str | None = None,
    ) -> AgentDispatcher:
        """A dispatcher that has learnt from the history (when some step routes
        adaptively) and from the journal of the run's earlier sessions (on resume)."""
        learning = AgentLearning()
        adaptive = wf.routing is Routing.ADAPTIVE or any(
            isinstance(s, ActionStep) and s.routing is Routing.ADAPTIVE for s, _ in wf.walk()
        )
        if adaptive and history is not None:
            learning.load_history(history, wf.name, skip_run=run_id)
        dispatcher = cls(wf, breakers=breakers, learning=learning, invoker=invoker)
        for sample in journal:
            dispatcher.replay(sample)
        return dispatcher

    def strategy(self, step: ActionStep) -> Routing:
        return step.routing if step.routing is not None else self.routing

    def capable(self, step: ActionStep) -> tuple[AgentSpec, ...]:
        assert step.agent_capability is not None
        return self.registry.capable(step.agent_capability)

    async def acquire(self, step: ActionStep, *, tried: frozenset[str]) -> Grant:
        """A slot of the agent routing picks among those not yet `tried`; waits its turn."""
        capability = step.agent_capability
        assert capability is not None
        agents = self.registry.capable(capability)
        strategy = self.strategy(step)
        asked = time.perf_counter()

        def decide() -> tuple[AgentSpec, Grant] | None:
            decision = self.router.choose(
                strategy,
                capability,
                agents,
                busy=self.pools.busy,
                open_circuit=self._open,
                allowed=lambda a: a.name not in tried,
            )
            if decision is None:
                return None
            return decision.agent, Grant(decision, time.perf_counter() - asked)

        return await self.pools.acquire(capability, decide)

    def release(self, agent: AgentSpec) -> None:
        self.pools.release(agent)

    def executor(self, agent: AgentSpec) -> AgentExecutor:
        executor = self._executors.get(agent.name)
        if executor is None:
            executor = self._executors[agent.name] = AgentExecutor(agent, self._invoker)
        return executor

    def observe(self, capability: str, agent: AgentSpec, *, ok: bool, duration: float) -> None:
        """An attempt on `agent` ended: adaptive routing learns from it."""
        self.learning.add(capability, agent.name, ok=ok, duration=duration)

    def replay(self, sample: JournalSample) -> None:
        """An attempt of an earlier session of this run: learnt, and moved its agent's
        circuit as it did then."""
        agent = self.registry.agents.get(sample.agent)
        if agent is None:
            return
        self.learning.add(sample.capability, agent.name, ok=sample.ok, duration=sample.duration)
        spec = agent.circuit_breaker
        if spec is not None:
            try:
                self.breakers.before_attempt(spec)
            except CircuitOpenError:  # a refused attempt moved nothing then either
                return
            self.breakers.record(spec, success=sample.ok)

    def _open(self, agent: AgentSpec) -> bool:
        spec = agent.circuit_breaker
        if spec is None:
            return False
        return (
            self.breakers.state(spec.name) is CircuitState.OPEN
            and self.breakers.retry_after(spec) > 0
        )
