"""Checks of the `agents:` registry against the steps that use it (SPEC.md 6 and 8).

Errors: a step asks for a capability no agent has (with a did-you-mean), `routing` and
`adaptive_routing` that say different things. Warning: an agent no step can use.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from flowctl.errors import Location, Problem, Severity
from flowctl.spec.model import ActionStep, Routing, Workflow


def check_agents(wf: Workflow) -> Iterator[Problem]:
    """Every agent problem of the workflow, each with the location of the key at fault."""
    yield from _routing_conflict(wf)
    capabilities: dict[str, list[str]] = {}
    for agent in wf.agents.values():
        for capability in agent.capabilities:
            capabilities.setdefault(capability, []).append(agent.name)
    asked: set[str] = set()
    for step, _ in wf.walk():
        wanted = step.agent_capability
        if wanted is None:
            continue
        asked.add(wanted)
        if wanted in capabilities:
            continue
        yield Problem(
            f"step '{step.id}' asks for agent capability '{wanted}', which no agent has"
            + _hint(wanted, sorted(capabilities)),
            step.where("agent_capability"),
            path=step.id,
            code="agents",
        )
    for agent in wf.agents.values():
        if asked.isdisjoint(agent.capabilities):
            caps = ", ".join(agent.capabilities)
            yield Problem(
                f"agent '{agent.name}' is never used: no step asks for {caps} "
                "(remove it, or give a step agent_capability)",
                agent.location or wf.where("agents"),
                path=f"agents.{agent.name}",
                code="agents",
                severity=Severity.WARNING,
            )


def _routing_conflict(wf: Workflow) -> Iterator[Problem]:
    if "adaptive_routing" not in wf.key_locations or "routing" not in wf.key_locations:
        return
    said = Routing.ADAPTIVE if wf.adaptive_routing else None
    if (said is Routing.ADAPTIVE) == (wf.routing is Routing.ADAPTIVE):
        return
    alias = "true" if wf.adaptive_routing else "false"
    yield Problem(
        f"adaptive_routing: {alias} contradicts routing: {wf.routing.value} "
        "(adaptive_routing: true means routing: adaptive; keep one of the two)",
        _where(wf.key_locations.get("adaptive_routing"), wf),
        path="adaptive_routing",
        code="agents",
    )


def _where(location: Location | None, wf: Workflow) -> Location:
    return location if location is not None else wf.where("agents")


def _hint(word: str, options: list[str]) -> str:
    if not options:
        return " (the workflow declares no agents: add one under `agents:`)"
    close = difflib.get_close_matches(word, options, n=1)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (known capabilities: {', '.join(options)})"


def agent_steps(wf: Workflow) -> Iterator[ActionStep]:
    """Every action step that runs on an agent."""
    for step, _ in wf.walk():
        if isinstance(step, ActionStep) and step.agent_capability is not None:
            yield step
