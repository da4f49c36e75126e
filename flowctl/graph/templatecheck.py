"""Every expression and template of a workflow, parsed and checked before a run.

Syntax, unknown filters and tests, unclosed delimiters; names that do not exist where the
text runs (steps that are unknown or not upstream, undeclared inputs and params, loop
variables outside their loop, `result` outside output_mapping, undeclared outputs); and, as
warnings, `workflow.` paths nothing writes and text outputs compared with numbers.
Each problem points inside the scalar, at the token at fault, when the file text is known.
"""

from __future__ import annotations

import bisect
import difflib
import enum
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from msgspec import Struct

from flowctl.errors import Location, Problem, Severity
from flowctl.graph.index import StepIndex
from flowctl.graph.upstream import Upstream
from flowctl.spec.model import (
    ActionStep,
    ConditionStep,
    HumanTaskStep,
    LoopStep,
    ShellCommand,
    Step,
    StepType,
    WaitStep,
    WebhookStep,
    Workflow,
)
from flowctl.spec.yamlload import JsonPath, LoadedDocument

if TYPE_CHECKING:
    from flowctl.graph.exprscan import Analysis, NamePath, Read

SHELL_OUTPUTS = frozenset({"exit_code", "stdout", "stderr", "stdout_truncated", "stderr_truncated"})
# Outputs flowctl itself gives each kind of step; declared `outputs` add to them.
_BUILTIN_OUTPUTS: dict[StepType, frozenset[str]] = {
    StepType.WEBHOOK: frozenset({"status_code", "headers", "body", "body_truncated", "json"}),
    StepType.WAIT: frozenset({"waited"}),
    StepType.HUMAN_TASK: frozenset({"approved", "by", "comment", "decided_at"}),
    StepType.PARALLEL: frozenset(
        {"total", "succeeded", "failed", "success_rate", "results", "failures"}
    ),
    StepType.LOOP: frozenset({"iterations", "count", "labels"}),
    StepType.CONDITION: frozenset({"branch", "selected"}),
}
STEP_FIELDS = ("status", "outputs", "attempts", "duration", "error")
RUN_FIELDS = ("id", "workflow", "started_at")
_JINJA_GLOBALS = frozenset({"range", "dict"})
# Names other tools use in their expressions, and what flowctl offers instead.
_FOREIGN_NAMES = {
    "secrets": "secrets are environment variables here: read env.NAME",
    "github": "flowctl has no 'github' context",
    "matrix": "a loop's item is 'item', or its 'as' name, inside the loop's steps",
    "needs": "read a finished step as steps.<id>",
    "vars": "workflow variables are read as workflow.<name>",
}


class Role(enum.Enum):
    """Where a text runs, which decides the names it sees."""

    CONDITION = "condition"  # before params are resolved
    INPUT = "input_mapping"  # while params are resolved
    BODY = "body"  # run, env, http, cache key, approval, wait until, cases, loop items
    OUTPUT = "output_mapping"  # after the step, with `result`
    ROLLBACK = "rollback"  # after the step, with `result`
    WHILE = "while"  # before each iteration, with `index` and the iteration's steps
    LABEL = "loop label"  # naming each for_each item, with `index` and the `as` name
    WORKFLOW_ENV = "workflow env"  # once per run: workflow, inputs, run, env
    AGENT = "agent"  # agents are not run yet: their texts are checked for syntax and inputs


class Source(Struct, frozen=True):
    """One expression or template and where it is written."""

    text: str
    template: bool
    role: Role
    path: JsonPath  # of the value (or of the key, when `key` is set) in the document
    label: str  # for messages: "condition", "env.TOKEN", "output_mapping key"
    step: Step | None  # None for workflow env and agents
    key: bool = False  # the text is a mapping key (output_mapping)


def check_templates(wf: Workflow, index: StepIndex, doc: LoadedDocument | None) -> list[Problem]:
    """Every problem of every expression and template of `wf`."""
    sources = list(workflow_sources(wf, doc))
    if not any(_may_read(s) for s in sources):
        return []  # nothing to parse: Jinja is not even imported
    return list(_Checker(wf, index, doc).run(sources))


def _may_read(source: Source) -> bool:
    # A template without braces is plain text; an expression always reads or computes.
    return not source.template or "{" in source.text


# -- where the texts are -------------------------------------------------------------------------
def workflow_sources(wf: Workflow, doc: LoadedDocument | None) -> Iterator[Source]:
    for name, value in wf.env.items():
        yield Source(value, True, Role.WORKFLOW_ENV, ("env", name), f"env.{name}", None)
    for name, agent in wf.agents.items():
        if agent.command is not None:
            base: JsonPath = ("agents", name)
            yield from _shell(agent.command, base, f"agents.{name}.", Role.AGENT, None)
    paths = _step_paths(doc.data) if doc is not None else None
    for step, _ in wf.walk():
        path = next(paths, None) if paths is not None else None
        yield from step_sources(step, path or ())


def _step_paths(data: Any) -> Iterator[JsonPath]:
    """Document paths of the steps, in the order of Workflow.walk (depth first, file order)."""

    def walk(steps: Any, path: JsonPath) -> Iterator[JsonPath]:
        if not isinstance(steps, list):
            return
        for i, raw in enumerate(steps):
            here = (*path, i)
            yield here
            if not isinstance(raw, dict):
                continue
            if raw.get("type") == "parallel":
                yield from walk(raw.get("parallel_steps"), (*here, "parallel_steps"))
            elif raw.get("type") == "loop" and isinstance(raw.get("loop"), dict):
                yield from walk(raw["loop"].get("steps"), (*here, "loop", "steps"))

    return walk(data.get("steps") if isinstance(data, dict) else None, ("steps",))


def step_sources(step: Step, at: JsonPath) -> Iterator[Source]:
    """The texts written in one step (not in its children), with their document paths."""

    def src(text: str, template: bool, role: Role, *rel: str | int, key: bool = False) -> Source:
        return Source(text, template, role, (*at, *rel), _label(rel), step, key)

    if step.condition is not None:
        yield src(step.condition, False, Role.CONDITION, "condition")
    for param, text in step.input_mapping.items():
        yield src(text, False, Role.INPUT, "input_mapping", param)
    for text in step.output_mapping:
        yield src(text, False, Role.OUTPUT, "output_mapping", text, key=True)
    if step.cache is not None:
        yield src(step.cache.key, True, Role.BODY, "cache", "key")
    for i, action in enumerate(step.rollback_actions):
        base: JsonPath = (*at, "rollback_actions", i)
        label = f"rollback_actions[{i}]."
        if action.command is not None:
            yield from _shell(action.command, base, label, Role.ROLLBACK, step)
        if action.http is not None:
            yield from _http(action.http, (*base, "http"), label + "http.", Role.ROLLBACK, step)
    yield from _typed_sources(step, at, src)


def _typed_sources(step: Step, at: JsonPath, src: Any) -> Iterator[Source]:
    if isinstance(step, ActionStep):
        # `sources` and `generates` patterns are templates too (issue 11's file tracking).
        for key in ("sources", "generates"):
            for i, pattern in enumerate(getattr(step, key, ())):
                yield src(pattern, True, Role.BODY, key, i)
    match step:
        case ActionStep(command=ShellCommand() as command):
            yield from _shell(command, at, "", Role.BODY, step)
        case WebhookStep(http=http):
            yield from _http(http, (*at, "http"), "http.", Role.BODY, step)
        case WaitStep(until=str(until)):
            yield src(until, True, Role.BODY, "until")
        case HumanTaskStep(approval=approval):
            yield src(approval.message, True, Role.BODY, "approval", "message")
        case LoopStep():
            if step.while_ is not None:
                yield src(step.while_, False, Role.WHILE, "loop", "while")
            if isinstance(step.for_each, str):
                yield src(step.for_each, False, Role.BODY, "loop", "for_each")
            if step.label is not None:
                yield src(step.label, True, Role.LABEL, "loop", "label")
        case ConditionStep(cases=cases):
            for i, case in enumerate(cases):
                yield src(case.when, False, Role.BODY, "cases", i, "when")


def _shell(
    command: Any, at: JsonPath, label: str, role: Role, step: Step | None
) -> Iterator[Source]:
    yield Source(command.run, True, role, (*at, "run"), label + "run", step)
    if command.working_dir is not None:
        yield Source(
            command.working_dir, True, role, (*at, "working_dir"), label + "working_dir", step
        )
    for name, value in command.env.items():
        yield Source(value, True, role, (*at, "env", name), f"{label}env.{name}", step)


def _http(http: Any, at: JsonPath, label: str, role: Role, step: Step | None) -> Iterator[Source]:
    yield Source(http.url, True, role, (*at, "url"), label + "url", step)
    for part in ("headers", "params"):
        for name, value in getattr(http, part).items():
            yield Source(value, True, role, (*at, part, name), f"{label}{part}.{name}", step)
    if http.body is not None:
        yield Source(http.body, True, role, (*at, "body"), label + "body", step)
    stack: list[tuple[Any, JsonPath]] = [(http.json, (*at, "json"))]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            shown = label + "json"
            yield Source(value, True, role, path, shown, step)
        elif isinstance(value, Mapping):
            for k, v in value.items():
                if isinstance(k, str) and ("{{" in k or "{%" in k):
                    yield Source(k, True, role, (*path, k), label + "json", step, key=True)
                stack.append((v, (*path, k)))
        elif isinstance(value, list | tuple):
            stack.extend((v, (*path, i)) for i, v in enumerate(value))


def _label(rel: tuple[str | int, ...]) -> str:
    out = ""
    for part in rel:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    if rel[:1] == ("output_mapping",):
        return "output_mapping"
    return out


# -- the checks ------------------------------------------------------------------------------------
class _Checker:
    def __init__(self, wf: Workflow, index: StepIndex, doc: LoadedDocument | None) -> None:
        self.wf = wf
        self.index = index
        self.upstream = Upstream(index)
        self.locator = _Locator(doc)
        self.loop_vars: dict[str, str] = {}  # loop variable name -> the first loop defining it
        for step in index.all_steps:
            if isinstance(step, LoopStep):
                if step.for_each is not None:
                    self.loop_vars.setdefault(step.as_, step.id)
                self.loop_vars.setdefault("index", step.id)
        self.ids = list(index.placed)
        # difflib costs ~30 us a candidate: did-you-mean over all step ids stops once this
        # many comparisons are spent, so a file full of typos stays fast (as refcheck does).
        self.suggestions = 20_000
        self._writes: _Paths | None = None
        self._known: list[str] | None = None  # top-level names in workflow, for hints
        self._names: dict[tuple[Role, str | None], frozenset[str]] = {}
        self.containers = {
            step_id: placed.container.id
            for step_id, placed in index.placed.items()
            if placed.container is not None
        }

    def run(self, sources: list[Source]) -> Iterator[Problem]:
        from flowctl.graph.exprscan import analyse

        for source in sources:
            if not _may_read(source):
                continue
            analysis = analyse(source.text, template=source.template)
            yield from self.check(source, analysis)

    def check(self, source: Source, analysis: Analysis) -> Iterator[Problem]:
        for mistake in analysis.mistakes:
            message = f"{self.subject(source)}: {_syntax_message(mistake.code, mistake.message)}"
            yield self.problem(source, message, mistake.code, offset=mistake.offset)
        if source.label.endswith("run") and ("\\{{" in source.text or "<<" in source.text):
            # Only these two can make the shell quoting refuse a command whatever its values.
            from flowctl.expressions.shell import static_refusal

            refusal = static_refusal(source.text)
            if refusal is not None:
                at = source.text.find("\\{{")
                at = source.text.find("<<") if at < 0 else at
                yield self.problem(
                    source, f"{self.subject(source)}: {refusal}", "shell-refused", offset=at
                )
        if source.template and "${{" in source.text:
            message = (
                f"{self.subject(source)} writes '${{{{ ... }}}}', GitHub Actions' syntax: in"
                " flowctl a value is '{{ ... }}', and the '$' before it stays in the text"
            )
            yield self.problem(
                source,
                message,
                "github-syntax",
                offset=source.text.find("${{"),
                severity=Severity.WARNING,
            )
        names = self.names(source)
        seen: set[tuple[str, ...]] = set()
        for read in analysis.reads:
            found = self.read_problem(source, read, names)
            if found is None:
                continue
            message, code, length, severity = found
            if (code, *read.path[:length]) in seen:
                continue
            seen.add((code, *read.path[:length]))
            yield self.problem(
                source, message, code, path=read.path, length=length, severity=severity
            )
        if source.role is Role.WHILE and source.step is not None:
            first = self.first_iteration(source, analysis)
            if first is not None:
                message, path = first
                yield self.problem(
                    source,
                    message,
                    "while-first-iteration",
                    path=path,
                    length=2,
                    severity=Severity.WARNING,
                )
        for path in analysis.number_compares:
            warning = self.compare_warning(source, path)
            if warning is not None and ("compare", *path) not in seen:
                seen.add(("compare", *path))
                yield self.problem(
                    source,
                    warning,
                    "untyped-compare",
                    path=path,
                    length=-len(path),  # at the start of the whole path
                    severity=Severity.WARNING,
                )

    # -- names ------------------------------------------------------------------------------
    def names(self, source: Source) -> frozenset[str]:
        # The names depend on the role and on the loops around the step: its container.
        step = source.step
        container = self.containers.get(step.id) if step is not None else None
        key = (source.role, container)
        names = self._names.get(key)
        if names is None:
            names = self._names[key] = self._names_of(source)
        return names

    def _names_of(self, source: Source) -> frozenset[str]:
        if source.role is Role.WORKFLOW_ENV:
            return frozenset({"workflow", "inputs", "run", "env"})
        names = {"workflow", "inputs", "env", "run", "steps", "params"}
        if source.role is Role.AGENT:
            names.discard("steps")
        if source.role in (Role.OUTPUT, Role.ROLLBACK):
            names.add("result")
        if source.role is Role.WHILE:
            names.add("index")
        step = source.step
        if source.role is Role.LABEL and isinstance(step, LoopStep):
            names.update(("index", step.as_))
        if step is not None and step.id in self.index.placed:
            for container_id in self.index.ancestors(step.id)[1:]:
                loop = self.index.placed[container_id].step
                if isinstance(loop, LoopStep):
                    names.add("index")
                    if loop.for_each is not None:
                        names.add(loop.as_)
        return frozenset(names | _JINJA_GLOBALS)

    def read_problem(
        self, source: Source, read: Read, names: frozenset[str]
    ) -> tuple[str, str, int, Severity] | None:
        """(message, code, how many names of the path to point at, severity), or None."""
        path, subject = read.path, self.subject(source)
        head = path[0]
        if head not in names:
            return self.unknown_name(source, head, names)
        if head == "steps" and len(path) > 1:
            return self.step_read(source, read)
        if head == "inputs" and len(path) > 1 and path[1] not in self.wf.inputs:
            declared = list(self.wf.inputs)
            hint = self.suggest(path[1], declared)
            fix = hint or " (declare it under 'inputs')"
            return (
                f"{subject} reads inputs.{path[1]}, but the workflow declares no input"
                f" '{path[1]}'{fix}",
                "unknown-input",
                2,
                Severity.ERROR,
            )
        if head == "params" and len(path) > 1:
            return self.param_read(source, path[1])
        if head == "run" and len(path) > 1 and path[1] not in RUN_FIELDS:
            return (
                f"{subject} reads run.{path[1]}, but run has only {_listing(RUN_FIELDS)}",
                "unknown-field",
                2,
                Severity.ERROR,
            )
        if head == "workflow" and len(path) > 1 and not read.guarded:
            return self.workflow_read(source, path)
        return None

    def unknown_name(
        self, source: Source, name: str, names: frozenset[str]
    ) -> tuple[str, str, int, Severity]:
        subject = self.subject(source)
        if name == "result":
            return (
                f"{subject} reads 'result', which exists only in output_mapping keys and"
                " rollback_actions (after the step ran)",
                "result-outside",
                1,
                Severity.ERROR,
            )
        loop = self.loop_vars.get(name)
        if loop is not None or name in ("item", "index"):
            where = f" of loop '{loop}'" if loop else " of a loop"
            return (
                f"{subject} reads '{name}', a variable{where} that exists only inside the"
                " loop's steps",
                "loop-var-outside",
                1,
                Severity.ERROR,
            )
        if source.role is Role.WORKFLOW_ENV and name in ("steps", "params"):
            return (
                f"{subject} reads '{name}', but the workflow's env is rendered once, before"
                " any step: it sees workflow, inputs, run and env",
                "unknown-name",
                1,
                Severity.ERROR,
            )
        hint = _FOREIGN_NAMES.get(name)
        if name in self.wf.inputs:
            hint = f"inputs are read as inputs.{name}"
        elif name in self.wf.variables:
            hint = f"variables are read as workflow.{name}"
        dashed = re.search(rf"([\w.]+)-{re.escape(name)}\b", source.text)
        if hint is None and dashed is not None:
            whole = f"{dashed.group(1)}-{name}"
            head, _, last = whole.rpartition(".")
            hint = f"'{whole}' is a subtraction; a key with '-' is written {head}['{last}']"
        extra = f" ({hint})" if hint else self.suggest(name, sorted(names - _JINJA_GLOBALS))
        known = _listing(sorted(names - _JINJA_GLOBALS))
        return (
            f"{subject} reads '{name}', which is not defined here{extra}; names here: {known}",
            "unknown-name",
            1,
            Severity.ERROR,
        )

    def step_read(self, source: Source, read: Read) -> tuple[str, str, int, Severity] | None:
        path, subject = read.path, self.subject(source)
        target_id = path[1]
        placed = self.index.placed.get(target_id)
        if placed is None:
            hint = self.suggest(target_id, self.ids)
            return (
                f"{subject} reads steps.{target_id}, but no step has the id '{target_id}'{hint}",
                "unknown-step",
                2,
                Severity.ERROR,
            )
        reader = source.step
        if reader is None:
            return None
        target = placed.step
        # The common case, a direct dependency: visible without a search of the graph.
        direct = target_id in reader.dependencies and self._siblings(reader, target)
        plain = target.type is StepType.ACTION and not target.outputs  # no outputs to check
        if direct and plain and (len(path) < 3 or path[2] in STEP_FIELDS):
            return None
        if len(path) > 2 and path[2] not in STEP_FIELDS:
            return (
                f"{subject} reads steps.{target_id}.{path[2]}, but a step has only"
                f" {_listing(STEP_FIELDS)}{self.suggest(path[2], STEP_FIELDS)}",
                "unknown-field",
                3,
                Severity.ERROR,
            )
        reason = None
        if not direct:
            reason = self.upstream.problem(
                reader,
                target,
                self_ok=source.role in (Role.OUTPUT, Role.ROLLBACK),
                children_ok=source.role is Role.WHILE,
            )
        if reason is not None:
            return (
                f"{subject} reads steps.{target_id}, but {reason}",
                "not-upstream",
                2,
                Severity.ERROR,
            )
        if (
            target.id == reader.id
            and source.role is Role.OUTPUT
            and len(path) > 2
            and path[2] != "outputs"
        ):
            return (
                f"{subject} reads steps.{target_id}.{path[2]}, but output_mapping runs before"
                f" the step has finished: only steps.{target_id}.outputs (or result) is there",
                "not-upstream",
                3,
                Severity.ERROR,
            )
        fixed = target.type in _BUILTIN_OUTPUTS  # a kind of step whose outputs are known
        if len(path) > 3 and path[2] == "outputs" and (target.outputs or fixed):
            key = path[3]
            builtin = _builtin_outputs(target)
            if key not in target.outputs and key not in builtin and not read.guarded:
                known = sorted({*target.outputs, *builtin})
                what = (
                    f"declares only {_listing(sorted(target.outputs))} in 'outputs'"
                    if not fixed
                    else f"({target.type.value}) has only the outputs {_listing(known)}"
                )
                return (
                    f"{subject} reads steps.{target_id}.outputs.{key}, but step '{target_id}'"
                    f" {what}{self.suggest(key, known)}",
                    "undeclared-output",
                    4,
                    Severity.ERROR,
                )
        return None

    def _siblings(self, a: Step, b: Step) -> bool:
        placed_a, placed_b = self.index.placed.get(a.id), self.index.placed.get(b.id)
        if placed_a is None or placed_b is None or placed_a.step is not a:
            return False
        return placed_a.container is placed_b.container

    def suggest(self, word: str, options: Any) -> str:
        """A did-you-mean, while the comparison budget lasts."""
        options = list(options)
        if self.suggestions < len(options):
            return ""
        self.suggestions -= len(options)
        return _suggest(word, options)

    def param_read(self, source: Source, name: str) -> tuple[str, str, int, Severity] | None:
        step, subject = source.step, self.subject(source)
        if step is None:
            return None
        if source.role in (Role.CONDITION, Role.INPUT):
            when = "before" if source.role is Role.CONDITION else "while"
            return (
                f"{subject} reads params.{name}, but params are empty {when} they are resolved"
                " from input_mapping: write the expression itself",
                "unknown-param",
                2,
                Severity.ERROR,
            )
        if name in step.input_mapping:
            return None
        declared = list(step.input_mapping)
        where = (
            f"input_mapping of step '{step.id}' has no '{name}'"
            if declared
            else f"step '{step.id}' has no input_mapping"
        )
        return (
            f"{subject} reads params.{name}, but {where}{self.suggest(name, declared)}",
            "unknown-param",
            2,
            Severity.ERROR,
        )

    def workflow_read(
        self, source: Source, path: NamePath
    ) -> tuple[str, str, int, Severity] | None:
        first = path[1]
        if first in self.wf.variables or first in self.wf.inputs:
            return None
        if self.writes().sees(path):
            return None
        if self._known is None:
            self._known = sorted({*self.wf.variables, *self.wf.inputs, *self.writes().firsts})
        known = self._known
        return (
            f"{self.subject(source)} reads workflow.{'.'.join(path[1:])}, which no variable,"
            f" input or output_mapping writes{self.suggest(first, known)}",
            "unwritten-workflow",
            2,
            Severity.WARNING,
        )

    def writes(self) -> _Paths:
        if self._writes is None:
            from flowctl.graph.dataflow import target_path

            self._writes = _Paths()
            for step in self.index.all_steps:
                for target in step.output_mapping.values():
                    written = target_path(target)
                    if written is not None:
                        self._writes.add(written)
        return self._writes

    def first_iteration(self, source: Source, analysis: Analysis) -> tuple[str, NamePath] | None:
        """A `while` that reads its own steps' results, which do not exist before the first
        iteration, with nothing (`index`, `| default`, `is defined`) to cover that case."""
        loop = source.step
        if loop is None or any(r.path[0] == "index" for r in analysis.reads):
            return None
        children = {c.id for c in loop.children()}
        for read in analysis.reads:
            path = read.path
            if len(path) > 1 and path[0] == "steps" and path[1] in children and not read.guarded:
                return (
                    f"{self.subject(source)} reads steps.{path[1]}, which does not exist when"
                    " `while` is first checked, before the first iteration: write"
                    f" `index == 0 or ...`, or `steps.{path[1]}... | default(...)`",
                    path,
                )
        return None

    def compare_warning(self, source: Source, path: NamePath) -> str | None:
        if len(path) != 4 or path[0] != "steps" or path[2] != "outputs":
            return None
        placed = self.index.placed.get(path[1])
        if placed is None or not _is_shell(placed.step):
            return None
        target, key = placed.step, path[3]
        if target.outputs or key in SHELL_OUTPUTS:  # declared outputs are typed (or errors)
            return None
        text = ".".join(path)
        return (
            f"{self.subject(source)} compares {text} with a number, but outputs of shell steps"
            f" are text: write `{text} | int` (or `| float`), or declare"
            f" `outputs: {{{key}: integer}}` on step '{target.id}'"
        )

    # -- messages and locations ---------------------------------------------------------------
    def subject(self, source: Source) -> str:
        if source.step is None:
            return f"'{source.label}' of the workflow"
        return f"'{source.label}' of step '{source.step.id}'"

    def problem(
        self,
        source: Source,
        message: str,
        code: str,
        *,
        offset: int | None = None,
        path: NamePath | None = None,
        length: int = 1,
        severity: Severity = Severity.ERROR,
    ) -> Problem:
        if offset is None and path is not None:
            from flowctl.graph.exprscan import path_offset

            offset = path_offset(source.text, path, length)
        location = self.locator.at(source, offset)
        return Problem(message, location, _render(source.path), severity=severity, code=code)


def _syntax_message(code: str, message: str) -> str:
    if code == "expression-syntax":
        return f"syntax error: {message.strip().rstrip('.')}"
    return message


def _builtin_outputs(step: Step) -> frozenset[str]:
    if _is_shell(step):
        return SHELL_OUTPUTS
    return _BUILTIN_OUTPUTS.get(step.type, frozenset())


def _is_shell(step: Step) -> bool:
    return isinstance(step, ActionStep) and step.command is not None


def _suggest(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _listing(items: Any) -> str:
    quoted = [f"{i}" for i in items]
    if not quoted:
        return "nothing"
    if len(quoted) == 1:
        return quoted[0]
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _render(path: JsonPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Paths:
    """Written name paths: is a read of P served by some write (P inside it, or it in P)?"""

    def __init__(self) -> None:
        self._paths: set[NamePath] = set()
        self._prefixes: set[NamePath] = set()
        self.firsts: set[str] = set()

    def add(self, path: NamePath) -> None:
        self._paths.add(path)
        self._prefixes.update(path[:n] for n in range(1, len(path)))
        if len(path) > 1:
            self.firsts.add(path[1])

    def sees(self, read: NamePath) -> bool:
        if read in self._prefixes:
            return True
        return any(read[:n] in self._paths for n in range(1, len(read) + 1))


class _Locator:
    """Line and column of an offset inside a scalar, found in the file's text."""

    def __init__(self, doc: LoadedDocument | None) -> None:
        self.doc = doc
        self._starts: list[int] | None = None

    def starts(self) -> list[int]:
        if self._starts is None:
            assert self.doc is not None
            text = self.doc.text
            starts = [0]
            at = text.find("\n")
            while at >= 0:
                starts.append(at + 1)
                at = text.find("\n", at + 1)
            self._starts = starts
        return self._starts

    def at(self, source: Source, offset: int | None) -> Location:
        doc = self.doc
        if doc is None:
            step = source.step
            if step is None:
                return Location("<workflow>", 1, 1)
            return step.where(str(source.path[-1]) if source.path else "id")
        base = doc.locate(source.path, key=source.key)
        if offset is None or not doc.text:
            return base
        starts = self.starts()
        if base.line > len(starts):
            return base
        begin = starts[base.line - 1] + base.col - 1
        end = self._scalar_end(base.line)
        text = source.text
        offset = max(0, min(offset, len(text)))
        snippet = text[offset : offset + 24].split("\n", 1)[0]
        shift = 0
        if not snippet.strip():
            snippet = text[max(0, offset - 24) : offset].rsplit("\n", 1)[-1]
            shift = len(snippet)
        if not snippet:
            return base
        found = doc.text.find(snippet, begin, end)
        if found < 0:
            return base
        found += shift
        line = bisect.bisect_right(starts, found)
        return Location(base.file, line, found - starts[line - 1] + 1)

    def _scalar_end(self, line: int) -> int:
        """Where the value starting on `line` ends at the latest: the next line indented no
        deeper than this one (a block scalar's lines are deeper), or the end of the file."""
        assert self.doc is not None
        text, starts = self.doc.text, self.starts()
        first = text[starts[line - 1] : starts[line] - 1 if line < len(starts) else len(text)]
        indent = len(first) - len(first.lstrip(" -"))
        for n in range(line, len(starts)):
            row = text[starts[n] : starts[n + 1] - 1 if n + 1 < len(starts) else len(text)]
            if row.strip() and len(row) - len(row.lstrip(" ")) <= indent:
                return starts[n]
        return len(text)
