"""How an agent's work is executed for one attempt: its `python:` callable or `run:` command.

This is the only module that knows how to execute an agent; which agent runs a step is
decided elsewhere (routing, pool, failover). An executor for remote workers implements
the same `AgentInvoker` protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from flowctl.runner.steps.base import FailureKind, Outputs, StepContext, StepFailure
from flowctl.spec.model import AgentSpec


class AgentInvoker(Protocol):
    """Executes one attempt of a step on one agent; returns outputs or raises StepFailure."""

    async def invoke(self, agent: AgentSpec, ctx: StepContext) -> Outputs: ...


class LocalInvoker:
    """Runs the agent in this process: python callables on a thread (or the loop when
    async), commands as child processes, exactly as action steps run them."""

    async def invoke(self, agent: AgentSpec, ctx: StepContext) -> Outputs:
        from flowctl.runner.steps.action import call_python, run_shell

        if agent.command is not None:
            return await run_shell(ctx, agent.command)
        if agent.python is not None:
            return await call_python(ctx, agent.python)
        raise StepFailure(
            f"agent {agent.name!r} has neither `run` nor `python`",
            kind=FailureKind.VALIDATION,
            retryable=False,
        )


class AgentExecutor:
    """A StepExecutor bound to one agent: what the scheduler calls for an attempt."""

    __slots__ = ("_agent", "_invoker")

    def __init__(self, agent: AgentSpec, invoker: AgentInvoker) -> None:
        self._agent = agent
        self._invoker = invoker

    async def execute(self, ctx: StepContext) -> Outputs:
        return await self._invoker.invoke(self._agent, ctx)


def agent_env(
    agent: AgentSpec, names: Mapping[str, Any], base: Mapping[str, str]
) -> dict[str, str]:
    """The attempt's environment additions on `agent`: FLOWCTL_AGENT, then a python
    agent's `env` (a run agent's env belongs to its command, as for action steps)."""
    env = dict(base)
    env["FLOWCTL_AGENT"] = agent.name
    if agent.command is None and agent.env:
        from flowctl.expressions import compile_template, is_template

        for name, value in agent.env.items():
            env[name] = compile_template(value).render(names) if is_template(value) else value
    return env
