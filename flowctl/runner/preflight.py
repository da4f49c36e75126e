"""Refuse, before anything runs, a workflow whose step types the registry in use cannot run.

The built-in registry runs every step type; a registry given to `run_workflow(registry=)`
may leave some out, and a run must not silently skip what the author wrote.
"""

from __future__ import annotations

from flowctl.errors import Problem, SpecError
from flowctl.runner.steps.registry import Registry
from flowctl.spec.model import Workflow


def unsupported(wf: Workflow, registry: Registry) -> list[Problem]:
    """Every step whose type the registry has no executor for, with its location."""
    return [
        Problem(
            f"step '{step.id}' has type {step.type.value}, which the step registry of this "
            "run has no executor for",
            step.where("type"),
            path=step.id,
            code="unsupported",
        )
        for step, _ in wf.walk()
        if step.type not in registry
    ]


def check_supported(wf: Workflow, registry: Registry) -> None:
    """Raise SpecError (exit 2) listing every step the registry cannot run."""
    problems = unsupported(wf, registry)
    if problems:
        raise SpecError(problems)
