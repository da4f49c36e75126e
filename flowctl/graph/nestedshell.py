"""Warn when a `{{ }}` value is handed to a second interpreter inside a `run:` command.

flowctl passes every value to the outer shell as data (an environment variable). A command
that hands its argument to another interpreter (`sh -c '…'`, `bash -c`, `eval`, `ssh host
'…'`, `su -c`, `python -c`, an awk program, or a pipe into `sh`) turns that data back into
code: the inner interpreter parses the value. This cannot be fixed by quoting; the safe
pattern passes the value as an argument (`sh -c 'echo "$1"' sh {{ x }}`).

The scan is a heuristic over the template text (it runs at validate time, with no values):
it only warns, with the step's location and code `nested-shell`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from flowctl.errors import Problem, Severity
from flowctl.graph.index import StepIndex, where
from flowctl.spec.model import ActionStep, ShellCommand, Step

CODE = "nested-shell"

_PLACEHOLDER = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_RAW = re.compile(r"\|\s*raw\s*\}\}\Z")
_SHELLS = r"(?:[\w./-]*/)?(?:sh|bash|dash|zsh|ksh|mksh|ash|fish)"
_INTERPRETERS = r"(?:[\w./-]*/)?(?:python[0-9.]*|perl|ruby|node|php|pwsh|Rscript)"
# Commands whose next argument is a program: `sh -c CODE args…`, `python -c CODE`, awk.
_NEXT_WORD_IS_CODE = re.compile(
    rf"(?<![\w./-])(?:{_SHELLS}(?:\s+-[A-Za-z]+)*\s+-[A-Za-z]*c"
    rf"|{_INTERPRETERS}(?:\s+-[A-Za-z]+)*\s+-[A-Za-z]*[ecr]"
    r"|su\b[^\n]*?\s-[A-Za-z]*c|script\b[^\n]*?\s-[A-Za-z]*c"
    r"|[gmn]?awk(?:\s+-[vF]\s*\S+|\s+-[A-Za-z-]+)*)(?=\s)"
)
# Commands whose every later argument is code: they join them and parse the result.
_REST_IS_CODE = re.compile(r"(?<![\w./-])(?:eval|ssh|watch)\b")
_READS_CODE_FROM_STDIN = re.compile(
    rf"\A\s*(?:sudo\s+)?(?:{_SHELLS}|{_INTERPRETERS}|ssh\b)(?:\s|\Z)"
)


def check_nested_shells(index: StepIndex) -> Iterator[Problem]:
    """One warning per step whose `run:` hands a `{{ }}` value to a nested interpreter."""
    for step in index.all_steps:
        for key, command in _commands(step):
            found = nested_placeholder(command.run)
            if found is not None:
                yield Problem(
                    f"step '{step.id}': {found} reaches a nested interpreter, which runs it"
                    " as code (flowctl's quoting protects only the outer shell); pass it as"
                    " an argument instead, e.g. sh -c 'echo \"$1\"' sh {{ value }}",
                    where(step, key),
                    path=step.id,
                    severity=Severity.WARNING,
                    code=CODE,
                )


def _commands(step: Step) -> Iterator[tuple[str, ShellCommand]]:
    if isinstance(step, ActionStep) and step.command is not None:
        yield "run", step.command
    for action in step.rollback_actions:
        if action.command is not None:
            yield "rollback_actions", action.command


def nested_placeholder(source: str) -> str | None:
    """The first `{{ }}` placeholder of `source` that a nested interpreter parses, if any."""
    if "{{" not in source:
        return None  # most commands: nothing to scan
    placeholders: list[str] = []

    def mark(match: re.Match[str]) -> str:
        placeholders.append(match.group())
        return f"\0{len(placeholders) - 1}\0"

    text = _PLACEHOLDER.sub(mark, source)
    segments = list(_segments(text))
    for n, (segment, piped) in enumerate(segments):
        feeds_code = (
            piped
            and n + 1 < len(segments)
            and bool(_READS_CODE_FROM_STDIN.match(segments[n + 1][0]))
        )
        for match in re.finditer(r"\0(\d+)\0", segment):
            placeholder = placeholders[int(match.group(1))]
            if _RAW.search(placeholder):
                continue  # `| raw` is the author's explicit choice to paste code
            if feeds_code or _parsed_as_code(segment, match.start()):
                return placeholder
    return None


def _parsed_as_code(segment: str, at: int) -> bool:
    if _REST_IS_CODE.search(segment, 0, at):
        return True
    for command in _NEXT_WORD_IS_CODE.finditer(segment, 0, at):
        start, end = _next_word(segment, command.end())
        if start <= at < end:
            return True
    return False


def _next_word(text: str, i: int) -> tuple[int, int]:
    """Start and end of the shell word after i (quotes and escapes kept inside it)."""
    while i < len(text) and text[i] in " \t":
        i += 1
    start, quote = i, ""
    while i < len(text):
        c = text[i]
        if quote:
            if c == quote:
                quote = ""
            elif c == "\\" and quote == '"':
                i += 1
        elif c == "\\":
            i += 1
        elif c in "'\"":
            quote = c
        elif c in " \t":
            break
        i += 1
    return start, i


def _segments(text: str) -> Iterator[tuple[str, bool]]:
    """Simple commands of a script, split at unquoted `;`, `&`, `|` and newlines; each with
    whether it is piped into the next. Quotes are followed so that `sh -c 'a; {{ x }}'`
    stays one command."""
    start, quote, i = 0, "", 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == quote:
                quote = ""
            elif c == "\\" and quote == '"':
                i += 1
        elif c == "\\":
            i += 1
        elif c in "'\"":
            quote = c
        elif c in ";&|\n":
            piped = c == "|" and text[i + 1 : i + 2] != "|"
            yield text[start:i], piped
            if text[i + 1 : i + 2] == c:
                i += 1
            start = i + 1
        i += 1
    yield text[start:], False
