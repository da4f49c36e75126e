"""The loop container: `while` (checked before each iteration) or `for_each` (a parallel map)."""

from __future__ import annotations

import asyncio
from collections import ChainMap
from collections.abc import Mapping
from typing import Any

from flowctl.errors import ExpressionError
from flowctl.runner.engine.containers import Children, ChildScope, ContainerFailure, ScopeOutcome
from flowctl.runner.engine.rundata import expression_failure
from flowctl.runner.steps.base import (
    ApprovalPending,
    FailureKind,
    Outputs,
    StepContext,
    StepFailure,
)
from flowctl.spec.model import LoopStep


class LoopExecutor:
    """Outputs `iterations` (each iteration's `{child_id: outputs}`) and `count`.

    Children of iteration i are named `<loop>[i].<child>` and see `index`, the `as` name
    (for_each) and the iteration's own `steps`. An iteration fails when one of its children
    fails (unless that child has continue_on_failure); the loop then stops the iterations
    still running and fails, naming the iteration.

    Each for_each iteration also has a label (`labels` in the outputs, see looplabels):
    the name views and reports show for `<loop>[i]`.
    """

    async def execute(self, ctx: StepContext, children: Children) -> Outputs:
        step = ctx.step
        if not isinstance(step, LoopStep):
            raise TypeError(f"step {step.id!r} is not a loop step")
        if step.for_each is not None:
            items = _items(step, ctx.names)
            return await _for_each(step, ctx, children, items)
        return await _while(step, ctx, children)


def _items(step: LoopStep, names: Mapping[str, Any]) -> list[Any]:
    items = list(step.for_each) if isinstance(step.for_each, tuple) else _evaluate(step, names)
    if len(items) > step.max_iterations:
        raise StepFailure(
            f"for_each gives {len(items)} items, more than max_iterations "
            f"({step.max_iterations}); raise max_iterations to run them all",
            retryable=False,
        )
    return items


def _labels(step: LoopStep, ctx: StepContext, items: list[Any]) -> list[str]:
    from flowctl.runner.looplabels import loop_labels

    if step.label is None:
        return loop_labels(items)
    from flowctl.expressions import compile_template

    template = compile_template(step.label)

    def render(item: Any, index: int) -> str:
        names = dict(ctx.names)
        names[step.as_] = item
        names["index"] = index
        try:
            return ctx.masker.mask(template.render(names))
        except ExpressionError as err:
            raise expression_failure(err, "label", step.where("loop")) from None

    return loop_labels(items, render)


def _evaluate(step: LoopStep, names: Mapping[str, Any]) -> list[Any]:
    from flowctl.expressions import compile_expression

    source = str(step.for_each)
    try:
        value = compile_expression(source).evaluate(names)
    except ExpressionError as err:
        raise expression_failure(err, "for_each", step.where("loop")) from None
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise StepFailure(
            f"for_each {source!r} must give a list, got {type(value).__name__}",
            kind=FailureKind.EXPRESSION,
            retryable=False,
        )
    return list(value)


def _iteration_failure(
    index: int, outcome: ScopeOutcome, done: list[Any], labels: list[str] | None = None
) -> ContainerFailure:
    outputs: dict[str, Any] = {"iterations": done, "count": len(done)}
    named = ""
    if labels is not None:
        outputs["labels"] = labels
        if labels[index] != str(index):
            named = f" ({labels[index]})"
    return ContainerFailure(
        f"iteration {index}{named} failed: {outcome.failure or outcome.stopped}",
        cause=outcome.cause,
        outputs=outputs,
    )


async def _for_each(
    step: LoopStep, ctx: StepContext, children: Children, items: list[Any]
) -> Outputs:
    iterations: list[dict[str, Any] | None] = [None] * len(items)
    running: dict[int, ChildScope] = {}
    failed: list[tuple[int, ScopeOutcome]] = []
    waiting: list[str] = []  # children parked for an approval; other items go on
    cursor = iter(range(len(items)))
    labels = _labels(step, ctx, items)
    children.label_iterations(labels)

    async def worker() -> None:
        for index in cursor:
            if failed and not children.keep_going:
                return
            scope = children.scope(
                step.steps,
                prefix=f"{ctx.qualified_id}[{index}].",
                variables={step.as_: items[index], "index": index},
                own_names=True,
            )
            running[index] = scope
            try:
                outcome = await scope.run()
            finally:
                del running[index]
            if outcome.waiting and outcome.failure is None and outcome.stopped is None:
                waiting.extend(outcome.waiting)
                continue
            iterations[index] = outcome.outputs_by_id()
            if not outcome.ok:
                first = not failed
                failed.append((index, outcome))
                if first and not children.keep_going:
                    for other in running.values():
                        failing = children.shown(f"{ctx.qualified_id}[{index}]")
                        other.stop(f"iteration '{failing}' failed")

    workers = max(1, min(step.max_concurrency, len(items)))
    async with asyncio.TaskGroup() as group:
        for _ in range(workers):
            group.create_task(worker())
    done = [it for it in iterations if it is not None]
    if failed:
        index, outcome = failed[0]
        raise _iteration_failure(index, outcome, done, labels)
    if waiting:
        raise ApprovalPending(tuple(waiting))
    return {"iterations": done, "count": len(done), "labels": labels}


async def _while(step: LoopStep, ctx: StepContext, children: Children) -> Outputs:
    from flowctl.expressions import evaluate_condition

    source = step.while_ or ""
    iterations: list[dict[str, Any]] = []
    last: ScopeOutcome | None = None
    index = 0
    while True:
        names = dict(ctx.names)
        names["index"] = index
        if last is not None:
            names["steps"] = ChainMap(dict(last.names), ctx.names["steps"])
        try:
            again = evaluate_condition(source, names)
        except ExpressionError as err:
            raise expression_failure(err, "while", step.where("loop")) from None
        if not again:
            return {"iterations": iterations, "count": index}
        if index >= step.max_iterations:
            raise ContainerFailure(
                f"loop reached max_iterations ({step.max_iterations}) and `while: {source}` "
                "was still true",
                outputs={"iterations": iterations, "count": index},
            )
        outcome = await children.scope(
            step.steps,
            prefix=f"{ctx.qualified_id}[{index}].",
            variables={"index": index},
            own_names=True,
        ).run()
        if outcome.waiting and outcome.failure is None and outcome.stopped is None:
            raise ApprovalPending(outcome.waiting)  # the next `while` needs this iteration
        iterations.append(outcome.outputs_by_id())
        if not outcome.ok:
            raise _iteration_failure(index, outcome, iterations)
        last = outcome
        index += 1


EXECUTOR = LoopExecutor()
