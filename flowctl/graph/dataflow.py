"""Data flow: what steps read and write, and the checks built on it (outputs nobody reads,
`while` loops that nothing inside can end). `optimize.dataflow` reuses the helpers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from flowctl.errors import ExpressionError, Problem, Severity
from flowctl.graph.index import StepIndex, where
from flowctl.spec.model import (
    JSON,
    ActionStep,
    ConditionStep,
    HttpRequest,
    HumanTaskStep,
    LoopStep,
    ShellCommand,
    Step,
    WaitStep,
    WebhookStep,
    Workflow,
)

NamePath = tuple[str, ...]

# `workflow` as a name (not an attribute of something else), the attribute path after it,
# and the next character that is not a space.
_WORKFLOW_READ = re.compile(r"(?<![\w.])workflow((?:\.[A-Za-z_][A-Za-z0-9_]*)*)(?![\w])\s*(.?)")
# The code parts of a template: {{ expressions }} and {% statements %}.
_TEMPLATE_CODE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
# Most output targets are plain dotted names: no need to run the expression parser on them.
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def check_dataflow(index: StepIndex) -> Iterator[Problem]:
    """Unused outputs and loops without an exit path (warnings)."""
    yield from _unused_outputs(index)
    yield from _endless_loops(index.all_steps)


def read_paths(source: str, *, template: bool) -> frozenset[NamePath] | None:
    """What an expression or template reads; None when it cannot be parsed (reported
    elsewhere), which the checks treat as "might read anything"."""
    # Imported here: jinja2 loads only when a workflow has something to parse.
    from flowctl.expressions import is_template

    if template and not is_template(source):
        return frozenset()  # literal text reads nothing
    from flowctl.expressions.references import references

    try:
        return references(source, template=template)
    except ExpressionError:
        return None


def related(a: NamePath, b: NamePath) -> bool:
    """Reading `a` sees data written at `b` (or the reverse): one is a prefix of the other."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def target_path(target: str) -> NamePath | None:
    """`workflow.order.id` -> ("workflow", "order", "id"); a path without the `workflow.`
    prefix is read as one inside it."""
    if _DOTTED.fullmatch(target):
        path: NamePath = tuple(target.split("."))
    else:
        paths = read_paths(target, template=False)
        if paths is None or len(paths) != 1:
            return None
        (path,) = paths
    return path if path[:1] == ("workflow",) else ("workflow", *path)


def _unused_outputs(index: StepIndex) -> Iterator[Problem]:
    writes = [
        (step, source, target, path)
        for step in index.all_steps
        for source, target in step.output_mapping.items()
        if (path := target_path(target)) is not None
    ]
    if not writes:
        return
    reads = _Reads()
    for text, template in workflow_sources(index.workflow, index.all_steps):
        for path in _workflow_reads(text, template=template):
            reads.add(path)
    for step, source, target, path in writes:
        if not reads.sees(path):
            yield Problem(
                f"output '{source}' of step '{step.id}' is written to '{target}',"
                " which no expression or template reads",
                where(step, "output_mapping"),
                path=step.id,
                severity=Severity.WARNING,
                code="unused-output",
            )


def _workflow_reads(text: str, *, template: bool) -> Iterator[NamePath]:
    """The `workflow...` paths `text` reads.

    Parsing with Jinja costs ~100 us a text, too slow for files of ten thousand steps, so
    plain dotted references (`workflow.order.id`) are read with a pattern; anything else
    (`workflow['x']`, a method call, a bare `workflow`, template code with quotes or braces
    where a `}}` could hide) goes through `references`. The pattern may also see names in
    string literals: a longer list of reads only means fewer warnings.
    """
    if "workflow" not in text:  # a read needs the name
        return
    code, plain = text, True
    if template:
        blocks = [block[2:-2] for block in _TEMPLATE_CODE.findall(text)]
        code = " ".join(blocks)
        # Quotes or braces inside the code: a `}}` may not end it, so the blocks found may
        # be wrong. Let the parser decide.
        plain = not any(char in code for char in "'\"{}")
    paths: list[NamePath] = []
    for match in _WORKFLOW_READ.finditer(code) if plain else ():
        attrs, after = match.groups()
        if not attrs or after in ("[", "(", "."):
            plain = False
            break
        paths.append(("workflow", *attrs.split(".")[1:]))
    if not plain:
        found = read_paths(text, template=template)
        paths = list(found) if found is not None else [("workflow",)]
    yield from (p for p in paths if p[:1] == ("workflow",))


class _Reads:
    """Name paths read anywhere, answering "is what is written at P ever read?" in
    O(len(P)): a read of P itself, of an object containing P, or of something inside P."""

    def __init__(self) -> None:
        self._paths: set[NamePath] = set()
        self._prefixes: set[NamePath] = set()

    def add(self, path: NamePath) -> None:
        self._paths.add(path)
        self._prefixes.update(path[:n] for n in range(1, len(path)))

    def sees(self, written: NamePath) -> bool:
        if written in self._prefixes:
            return True
        return any(written[:n] in self._paths for n in range(1, len(written) + 1))


def _endless_loops(steps: Iterable[Step]) -> Iterator[Problem]:
    for step in steps:
        if not isinstance(step, LoopStep) or step.while_ is None:
            continue
        reads = read_paths(step.while_, template=False)
        if reads is None or _can_change(reads, step):
            continue
        yield Problem(
            f"loop '{step.id}' has no exit other than max_iterations ({step.max_iterations}):"
            f" its while expression {step.while_!r} reads nothing its steps change"
            " (steps.<child>, index, or workflow data they write)",
            where(step, "loop.while", "while", "loop"),
            path=step.id,
            severity=Severity.WARNING,
            code="loop-no-exit",
        )


def _can_change(reads: frozenset[NamePath], loop: LoopStep) -> bool:
    """Whether an iteration of `loop` can change a value at one of the name paths `reads`."""
    inside = [s for s in subtree(loop) if s is not loop]
    ids = {s.id for s in inside}
    written = [
        path
        for s in inside
        for target in s.output_mapping.values()
        if (path := target_path(target)) is not None
    ]
    for read in reads:
        match read:
            case ("index", *_):
                return True
            case ("steps",):
                return True
            case ("steps", step_id, *_) if step_id in ids:
                return True
            case ("workflow", *_) if any(related(read, path) for path in written):
                return True
    return False


def subtree(step: Step) -> Iterator[Step]:
    """The step and every step inside it, at any depth (iteratively: nesting can be deep)."""
    stack = [step]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.children())


def workflow_sources(wf: Workflow, steps: Iterable[Step]) -> Iterator[tuple[str, bool]]:
    """Every expression and template of the workflow and `steps` as (text, is_template)."""
    yield from ((v, True) for v in wf.env.values())
    for agent in wf.agents.values():
        if agent.command is not None:
            yield from _shell_sources(agent.command)
    for step in steps:
        yield from step_sources(step)


def step_sources(step: Step) -> Iterator[tuple[str, bool]]:
    """Every expression and template written in one step (not in its children)."""
    if step.condition is not None:
        yield step.condition, False
    yield from ((v, False) for v in step.input_mapping.values())
    yield from ((k, False) for k in step.output_mapping)
    if step.cache is not None:
        yield step.cache.key, True
    for action in step.rollback_actions:
        if action.command is not None:
            yield from _shell_sources(action.command)
        if action.http is not None:
            yield from _http_sources(action.http)
    match step:
        case ActionStep(command=ShellCommand() as command):
            yield from _shell_sources(command)
        case WebhookStep(http=http):
            yield from _http_sources(http)
        case WaitStep(until=str(until)):
            yield until, True
        case HumanTaskStep(approval=approval):
            yield approval.message, True
        case LoopStep():
            if step.while_ is not None:
                yield step.while_, False
            if isinstance(step.for_each, str):
                yield step.for_each, False
        case ConditionStep(cases=cases):
            yield from ((case.when, False) for case in cases)


def _shell_sources(command: ShellCommand) -> Iterator[tuple[str, bool]]:
    yield command.run, True
    if command.working_dir is not None:
        yield command.working_dir, True
    yield from ((v, True) for v in command.env.values())


def _http_sources(http: HttpRequest) -> Iterator[tuple[str, bool]]:
    yield http.url, True
    yield from ((v, True) for v in http.headers.values())
    yield from ((v, True) for v in http.params.values())
    if http.body is not None:
        yield http.body, True
    yield from ((s, True) for s in _json_strings(http.json))


def _json_strings(value: JSON) -> Iterable[str]:
    """Every string inside a JSON value, iteratively (documents can be deep)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
