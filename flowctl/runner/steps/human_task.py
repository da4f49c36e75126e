"""The `human_task` step: an approval, asked on the terminal, given by flag, or waited for."""

from __future__ import annotations

from flowctl.errors import ExpressionError
from flowctl.runner.engine.rundata import expression_failure
from flowctl.runner.steps.base import FailureKind, Outputs, StepContext, StepFailure
from flowctl.spec.model import HumanTaskStep


class HumanTaskExecutor:
    """Outputs `approved` (bool), `by`, `comment` and `decided_at`.

    How the decision is reached (up-front flags, a decision already in the journal, the
    terminal, or a pause until `flowctl approve`) is the run's approval gate's business;
    this step renders the message and turns a rejection into a failure that is never
    retried: "rejected by <by>: <comment>".
    """

    async def execute(self, ctx: StepContext) -> Outputs:
        step = ctx.step
        if not isinstance(step, HumanTaskStep):
            raise TypeError(f"step {step.id!r} is not a human_task step")
        if ctx.approvals is None:
            raise StepFailure(
                "human_task steps need an approval gate (run them with `flowctl run`)",
                kind=FailureKind.UNSUPPORTED,
                retryable=False,
            )
        message = ctx.masker.mask(_render(step.approval.message, ctx))
        decision = await ctx.approvals.decide(ctx, message)
        if not decision.approved:
            reason = f"rejected by {decision.by}"
            if decision.comment:
                reason += f": {decision.comment}"
            raise StepFailure(ctx.masker.mask(reason), retryable=False)
        return {
            "approved": True,
            "by": decision.by,
            "comment": decision.comment,
            "decided_at": decision.ts,
        }


def _render(message: str, ctx: StepContext) -> str:
    from flowctl.expressions import compile_template, is_template

    if not is_template(message):
        return message
    try:
        return compile_template(message).render(ctx.names)
    except ExpressionError as err:
        raise expression_failure(err, "approval.message") from None


EXECUTOR = HumanTaskExecutor()
