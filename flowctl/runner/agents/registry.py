"""The run's agents, indexed by capability in file order, with each agent's breaker."""

from __future__ import annotations

from collections.abc import Mapping

from msgspec import Struct, field

from flowctl.spec.model import AgentSpec, CircuitBreakerSpec, Workflow


class AgentRegistry(Struct, frozen=True):
    """Every agent by name, and the agents that have each capability (file order)."""

    agents: Mapping[str, AgentSpec]
    by_capability: Mapping[str, tuple[AgentSpec, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, wf: Workflow) -> AgentRegistry:
        by_capability: dict[str, list[AgentSpec]] = {}
        for agent in wf.agents.values():
            for capability in agent.capabilities:
                by_capability.setdefault(capability, []).append(agent)
        return cls(
            agents=dict(wf.agents),
            by_capability={cap: tuple(agents) for cap, agents in by_capability.items()},
        )

    def capable(self, capability: str) -> tuple[AgentSpec, ...]:
        """The agents that have `capability`, in file order (empty if none)."""
        return self.by_capability.get(capability, ())


def breaker_of(agent: AgentSpec) -> CircuitBreakerSpec | None:
    """The agent's own circuit breaker (named agent.<name> unless its author named it)."""
    return agent.circuit_breaker
