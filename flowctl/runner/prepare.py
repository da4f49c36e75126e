"""Checks of a run's options that a dry run makes too: approvals named, secrets set.

Apart from flowctl.runner.session (the run session) so that `run --dry-run` does not
import the scheduler.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from flowctl.errors import InputError, UsageError
from flowctl.secrets import SecretMasker
from flowctl.spec.model import StepType, Workflow


def secrets_masker(wf: Workflow, environ: Mapping[str, str] | None = None) -> SecretMasker:
    """One masker for the whole run, with every `secrets:` value read from the environment."""
    env = os.environ if environ is None else environ
    masker = SecretMasker()
    missing = [name for name in wf.secrets if name not in env]
    if missing:
        names = ", ".join(missing)
        raise InputError(
            f"secret {names} is not set in the environment (the workflow lists it under "
            "`secrets:`)",
            location=wf.where("secrets"),
        )
    for name in wf.secrets:
        masker.add(env[name], name=name)
    return masker


def check_approvals(wf: Workflow, approve: Sequence[str]) -> None:
    """`--approve STEP` must name a human_task step (by id, or a loop child's qualified id)."""
    tasks = [step.id for step, _ in wf.walk() if step.type is StepType.HUMAN_TASK]
    for name in approve:
        if name in tasks or name.rsplit(".", 1)[-1] in tasks:
            continue
        known = f"its human_task steps are {', '.join(tasks)}" if tasks else "it has none"
        raise UsageError(f"--approve {name}: the workflow has no human_task step {name!r}; {known}")
