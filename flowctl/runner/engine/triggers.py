"""Trigger rules: given how a step's dependencies ended, does it run or is it skipped?"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from flowctl.runner.results import StepResult
from flowctl.spec.model import TriggerRule
from flowctl.status import StepStatus

_BROKEN = (StepStatus.FAILED, StepStatus.CANCELLED)


def skip_reason(
    rule: TriggerRule, deps: Sequence[StepResult], shown: Callable[[str], str] = str
) -> str | None:
    """None when the step may run; otherwise why it is skipped, in plain words (`shown`
    names a step as messages do: loop items by label).

    none_failed: no dependency failed (or was cancelled) and, when there are any, at
    least one completed — so a step whose dependencies were all skipped is skipped too.
    all_success: every dependency completed. all_done: always runs (cleanup). A failure
    whose error handlers all completed is handled: both rules treat it as a success.
    """
    if not deps or rule is TriggerRule.ALL_DONE:
        return None
    if rule is TriggerRule.ALL_SUCCESS:
        for dep in deps:
            if not dep.succeeded:
                return f"dependency '{shown(dep.id)}' {dep.status.value} (trigger_rule all_success)"
        return None
    # A failure names the cause better than a cancellation that followed from it.
    for broken in _BROKEN:
        for dep in deps:
            if dep.status is broken and not dep.handled:
                return f"dependency '{shown(dep.id)}' {dep.status.value}"
    if not any(dep.succeeded for dep in deps):
        if len(deps) == 1:
            return f"dependency '{shown(deps[0].id)}' was skipped"
        return "every dependency was skipped"
    return None
