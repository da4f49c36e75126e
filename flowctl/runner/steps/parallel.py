"""The parallel container: run children together, succeed when enough of them do."""

from __future__ import annotations

from flowctl.runner.engine.containers import Children, ContainerFailure
from flowctl.runner.steps.base import ApprovalPending, Outputs, StepContext
from flowctl.runner.stored_outputs import kept
from flowctl.spec.model import ParallelStep
from flowctl.status import StepStatus


class ParallelExecutor:
    """Outputs: total, succeeded, failed, success_rate, results, failures (SPEC.md 2).

    success_rate = succeeded / (succeeded + failed), where a failed child with
    `continue_on_failure` or a handled failure is left out (tolerated by its author, or
    taken care of by its error handlers) and skipped children count neither way; with no
    finished child it is 1.0. The container fails when the rate is below
    `min_success_ratio`, and stops the remaining children as soon as the ratio can no
    longer be met. A child waiting for an approval makes the container wait.
    """

    async def execute(self, ctx: StepContext, children: Children) -> Outputs:
        step = ctx.step
        if not isinstance(step, ParallelStep):
            raise TypeError(f"step {step.id!r} is not a parallel step")
        outcome = await children.scope(
            step.parallel_steps,
            prefix=children.prefix,
            max_concurrency=step.max_concurrency,
            min_success_ratio=step.min_success_ratio,
        ).run()
        if outcome.waiting and outcome.failure is None and outcome.stopped is None:
            raise ApprovalPending(outcome.waiting)
        results: dict[str, object] = {}
        failures: dict[str, str | None] = {}
        tolerated = 0
        for child_id, result in outcome.results.items():
            if result.status is StepStatus.COMPLETED:
                results[child_id] = kept(result.outputs)  # shelved: a reference
            elif result.status in (StepStatus.FAILED, StepStatus.CANCELLED):
                failures[child_id] = result.error or result.reason
                # Failures their author tolerates, or that error handlers took care of.
                if result.status is StepStatus.FAILED and (
                    result.continue_on_failure or result.handled
                ):
                    tolerated += 1
        counted = len(results) + len(failures) - tolerated
        rate = len(results) / counted if counted else 1.0
        outputs = {
            "total": len(step.parallel_steps),
            "succeeded": len(results),
            "failed": len(failures),
            "success_rate": rate,
            "results": results,
            "failures": failures,
        }
        if (
            outcome.failure is not None
            or outcome.stopped is not None
            or (rate < step.min_success_ratio)
        ):
            detail = outcome.failure or outcome.stopped or "children failed"
            raise ContainerFailure(
                f"{len(results)} of {outputs['total']} children succeeded "
                f"(success rate {rate:.0%}, min_success_ratio {step.min_success_ratio:g}): "
                f"{detail}",
                cause=outcome.cause,
                outputs=outputs,
            )
        return outputs


EXECUTOR = ParallelExecutor()
