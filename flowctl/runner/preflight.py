"""Refuse, before anything runs, a workflow that uses features this flowctl cannot run yet."""

from __future__ import annotations

from flowctl.errors import Problem, SpecError
from flowctl.runner.steps.registry import Registry
from flowctl.spec.model import Step, Workflow

# Step keys that are parsed and validated but not executed yet. Running a spec that uses
# them would silently drop what its author asked for, so `run` refuses it instead.
_UNSUPPORTED_KEYS: tuple[str, ...] = ()


def _uses(step: Step, key: str) -> bool:
    value = getattr(step, key)
    return bool(value) if isinstance(value, tuple) else value is not None


def unsupported(wf: Workflow, registry: Registry) -> list[Problem]:
    """Every use of a feature `flowctl run` does not support yet, with its location."""
    problems = []
    for step, _ in wf.walk():
        if step.type not in registry:
            problems.append(
                Problem(
                    f"step '{step.id}' has type {step.type.value}, which `flowctl run` "
                    "does not support yet",
                    step.where("type"),
                    path=step.id,
                    code="unsupported",
                )
            )
        for key in _UNSUPPORTED_KEYS:
            if _uses(step, key):
                problems.append(
                    Problem(
                        f"step '{step.id}' uses {key}, which `flowctl run` does not support yet",
                        step.where(key),
                        path=step.id,
                        code="unsupported",
                    )
                )
    return problems


def check_supported(wf: Workflow, registry: Registry) -> None:
    """Raise SpecError (exit 2) listing every unsupported feature the workflow uses."""
    problems = unsupported(wf, registry)
    if problems:
        raise SpecError(problems)
