"""Helpers for the graph tests: workflows from YAML text, or built straight from the model.

Error cases load with `graph_checks=False` (the loader would otherwise raise on the very
errors under test) and then call `check_workflow` themselves.
"""

from __future__ import annotations

import random
import textwrap
from collections.abc import Iterable
from typing import Any

from msgspec.structs import replace

from flowctl.errors import Location, Problem
from flowctl.graph import check_workflow
from flowctl.spec.load import load_workflow_text
from flowctl.spec.model import (
    ActionStep,
    ConditionCase,
    ConditionStep,
    LoopStep,
    ParallelStep,
    ShellCommand,
    Step,
    StepType,
    Workflow,
)

SOURCE = "wf.yaml"


def load(text: str) -> Workflow:
    """The model of a YAML workflow, graph checks left to the test."""
    return load_workflow_text(textwrap.dedent(text).lstrip("\n"), SOURCE, graph_checks=False)


def problems(text: str) -> list[Problem]:
    return check_workflow(load(text))


def lines(found: Iterable[Problem]) -> list[str]:
    """Problems as users see them: `file:line:col: [warning: ]message (at step)`."""
    return [str(p) for p in found]


def codes(found: Iterable[Problem]) -> list[str]:
    return [p.code for p in found]


# -- model-built workflows (property and performance tests) --------------------------------

_line = 0


def _loc() -> Location:
    global _line
    _line += 1
    return Location(SOURCE, _line, 3)


def action(step_id: str, *deps: str, **fields: Any) -> ActionStep:
    return ActionStep(
        id=step_id,
        type=StepType.ACTION,
        location=_loc(),
        dependencies=tuple(deps),
        command=ShellCommand(run="true"),
        **fields,
    )


def parallel(step_id: str, children: Iterable[Step], *deps: str) -> ParallelStep:
    return ParallelStep(
        id=step_id,
        type=StepType.PARALLEL,
        location=_loc(),
        dependencies=tuple(deps),
        parallel_steps=tuple(children),
    )


def loop(step_id: str, children: Iterable[Step], *deps: str, **fields: Any) -> LoopStep:
    return LoopStep(
        id=step_id,
        type=StepType.LOOP,
        location=_loc(),
        dependencies=tuple(deps),
        steps=tuple(children),
        **fields,
    )


def condition(step_id: str, cases: dict[str, list[str]], *deps: str, **fields: Any) -> Step:
    return ConditionStep(
        id=step_id,
        type=StepType.CONDITION,
        location=_loc(),
        dependencies=tuple(deps),
        cases=tuple(ConditionCase(when=w, next_steps=tuple(t)) for w, t in cases.items()),
        **fields,
    )


def workflow(*steps: Step, name: str = "wf") -> Workflow:
    return Workflow(name=name, steps=tuple(steps), source=SOURCE, sha256="0" * 64)


def random_dag_workflow(size: int, *, seed: int = 7, containers: int = 5) -> Workflow:
    """A random DAG of `size` steps, ~2 dependencies each, some of them in containers,
    with expressions and output mappings like a real file's (differing by seed, so that
    no parse cache is warm for a new seed)."""
    rng = random.Random(seed)
    top: list[Step] = []
    for i in range(size - containers * 21):
        deps = {f"s{rng.randrange(i)}" for _ in range(2)} if i else set()
        fields: dict[str, Any] = {}
        if i % 50 == 0:
            fields["output_mapping"] = {"result.n": f"workflow.n{i}"}
        if i % 50 == 25:
            fields["condition"] = f"workflow.n{i - 25} > {seed} and steps.s{i - 1}.status == 'ok'"
            deps.add(f"s{i - 1}")  # a step reads only what is upstream of it
        top.append(action(f"s{i}", *sorted(deps), **fields))
    for c in range(containers):
        kids = [action(f"c{c}k{k}", *([f"c{c}k{k - 1}"] if k else [])) for k in range(20)]
        top.append(parallel(f"c{c}", kids, f"s{rng.randrange(len(top))}"))
    return workflow(*top)


def with_command(step: Step, run: str) -> Step:
    return replace(step, command=ShellCommand(run=run))
