"""The condition step: the first case whose `when` is true selects its next_steps."""

from __future__ import annotations

from flowctl.errors import ExpressionError
from flowctl.runner.engine.rundata import expression_failure
from flowctl.runner.steps.base import Outputs, StepContext
from flowctl.spec.model import ConditionStep


class ConditionExecutor:
    """Outputs `branch` (the case index, or "default") and `selected` (the chosen ids).

    The scheduler skips every target of the other cases; a case target that is also the
    selected branch of nothing runs only if selected.
    """

    async def execute(self, ctx: StepContext) -> Outputs:
        from flowctl.expressions import evaluate_condition

        step = ctx.step
        if not isinstance(step, ConditionStep):
            raise TypeError(f"step {step.id!r} is not a condition step")
        for index, case in enumerate(step.cases):
            try:
                chosen = evaluate_condition(case.when, ctx.names)
            except ExpressionError as err:
                where = case.location or step.where("cases")
                raise expression_failure(err, f"cases[{index}].when", where) from None
            if chosen:
                return {"branch": index, "selected": list(case.next_steps)}
        return {"branch": "default", "selected": list(step.default)}


EXECUTOR = ConditionExecutor()
