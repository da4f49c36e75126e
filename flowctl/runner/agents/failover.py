"""Failover: when a step's attempts on one agent are used up, the next-best capable agent
gets a fresh set of attempts, until every capable agent has been tried once.

Retries stay on the chosen agent (the step's retry_policy applies per agent). A failure
that cannot heal (expression, validation, unsupported, cancelled) is not retried and does
not fail over either; nor does a failure the step's `retry_on` leaves out (its author said
it does not heal), nor any failure of a step with `failover: false`.
"""

from __future__ import annotations

from typing import Protocol

from flowctl.runner.agents.dispatch import AgentDispatcher, Grant
from flowctl.runner.failure.retry import should_retry
from flowctl.runner.steps.base import Outputs, StepFailure
from flowctl.spec.model import ActionStep


class AgentAttempts(Protocol):
    """A step as failover drives it (implemented by the step's run in the scheduler)."""

    def hold(self, grant: Grant) -> None:
        """The step now holds this agent slot (given back after its final event)."""

    def let_go(self) -> None:
        """Give back the agent slot held, before moving to another agent."""

    async def on_agent(self, grant: Grant) -> Outputs:
        """Run the step's retry_policy on the granted agent."""
        ...

    def failed_over(self, grant: Grant, failure: StepFailure) -> None:
        """Every attempt on the granted agent failed; the next agent is asked for."""


def heals(step: ActionStep, failure: StepFailure) -> bool:
    """Whether another agent may succeed where this one failed: what retries would retry."""
    return should_retry(step.retry_policy, failure)


async def run_with_failover(
    dispatcher: AgentDispatcher, step: ActionStep, attempts: AgentAttempts
) -> Outputs:
    """The step's outputs from the first agent that succeeds; the last failure otherwise."""
    tried: set[str] = set()
    capable = {agent.name for agent in dispatcher.capable(step)}
    while True:
        grant = await dispatcher.acquire(step, tried=frozenset(tried))
        attempts.hold(grant)
        try:
            return await attempts.on_agent(grant)
        except StepFailure as failure:
            tried.add(grant.agent.name)
            if not step.failover or not heals(step, failure) or capable <= tried:
                raise
            attempts.failed_over(grant, failure)
            attempts.let_go()
