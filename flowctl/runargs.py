"""`flowctl run`'s options without typer: the common command line, parsed in microseconds.

`parse_run` understands exactly the command lines that typer would accept for `run` and
turn into the same parameters: one SPEC, and options from RUN_OPTIONS (as `--name VALUE`,
`--name=VALUE` or `-i VALUE`). Whatever else it meets (an unknown or malformed word, a value
it would have to interpret, `--help`, `--`) makes it answer None, and the typer app parses
the line instead, with its own messages. tests/test_runargs.py compares RUN_OPTIONS with
typer's declaration of `run` and the two parsers' results on generated command lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from enum import Enum
from pathlib import Path
from typing import Any

from flowctl.choices import RunOutput, ShowOutput

_COUNT = re.compile(r"[1-9][0-9]{0,8}")


def _path(text: str) -> Path | None:
    return Path(text) if text else None


def _count(text: str) -> int | None:
    """A positive integer, written plainly (typer's `min=1` options)."""
    return int(text) if _COUNT.fullmatch(text) else None


def _choice(kind: type[Enum]) -> Callable[[str], Enum | None]:
    def convert(text: str) -> Enum | None:
        try:
            return kind(text.lower())  # the options are declared case_sensitive=False
        except ValueError:
            return None

    return convert


def _text(text: str) -> str:
    return text


class Opt:
    """One option of `run`: its parameter, and how its words are read."""

    def __init__(
        self,
        dest: str,
        names: Collection[str],
        convert: Callable[[str], Any] | None = None,
        *,
        multiple: bool = False,
    ) -> None:
        self.dest = dest
        self.names = tuple(names)
        self.convert = convert  # None: a flag, which takes no value
        self.multiple = multiple


RUN_OPTIONS: tuple[Opt, ...] = (
    Opt("input", ("--input", "-i"), _text, multiple=True),
    Opt("inputs_file", ("--inputs-file",), _path),
    Opt("max_parallel", ("--max-parallel",), _count),
    Opt("dry_run", ("--dry-run",)),
    Opt("approve", ("--approve",), _text, multiple=True),
    Opt("auto_approve", ("--auto-approve",)),
    Opt("state_dir", ("--state-dir",), _path),
    Opt("history", ("--history",), _path),
    Opt("audit_log", ("--audit-log",), _path),
    Opt("report", ("--report",), _path),
    Opt("junit", ("--junit",), _path),
    Opt("output", ("--output",), _choice(RunOutput)),
    Opt("no_progress", ("--no-progress",)),
    Opt("executor", ("--executor",), _text),
    Opt("scheduler", ("--scheduler",), _text),
    Opt("workers", ("--workers",), _count),
    Opt("force_all", ("--force-all",)),
    Opt("force_run", ("--force-run",), _text, multiple=True),
    Opt("watch", ("--watch",)),
    Opt("keep_going", ("--keep-going", "-k")),
    Opt("show_output", ("--show-output",), _choice(ShowOutput)),
    Opt("quiet", ("--quiet", "-q")),
    Opt("html_report", ("--html-report",), _path),
)
_BY_NAME = {name: opt for opt in RUN_OPTIONS for name in opt.names}


def defaults() -> dict[str, Any]:
    """What `run` gets for an option not given (as typer's declaration says)."""
    params: dict[str, Any] = {}
    for opt in RUN_OPTIONS:
        params[opt.dest] = False if opt.convert is None else None
    params["output"] = RunOutput.TEXT
    return params


def parse_run(words: list[str]) -> dict[str, Any] | None:
    """The parameters of `run` for these words (after `run`), or None to let typer parse."""
    params = defaults()
    spec: str | None = None
    rest = iter(words)
    for word in rest:
        if not word.startswith("-"):
            if spec is not None:
                return None  # one SPEC only: typer reports the extra argument
            spec = word
            continue
        name, equals, attached = word.partition("=")
        opt = _BY_NAME.get(name)
        if opt is None or (equals and opt.convert is None):
            return None
        if opt.convert is None:
            params[opt.dest] = True
            continue
        raw = attached if equals else next(rest, None)
        if raw is None or (not equals and raw.startswith("-")):
            return None  # a missing value, or one typer would read differently
        value = opt.convert(raw)
        if value is None:
            return None
        if opt.multiple:
            params[opt.dest] = [*(params[opt.dest] or ()), value]
        else:
            params[opt.dest] = value
    if not spec:
        return None
    params["spec"] = Path(spec)
    return params


def run_with(
    spec: Path,
    *,
    input: list[str] | None,
    inputs_file: Path | None,
    max_parallel: int | None,
    dry_run: bool,
    approve: list[str] | None,
    auto_approve: bool,
    state_dir: Path | None,
    history: Path | None,
    audit_log: Path | None,
    report: Path | None,
    junit: Path | None,
    output: RunOutput,
    no_progress: bool,
    executor: str | None,
    scheduler: str | None,
    workers: int | None,
    force_all: bool,
    force_run: list[str] | None,
    watch: bool,
    keep_going: bool,
    show_output: ShowOutput | None,
    quiet: bool,
    html_report: Path | None,
) -> int:
    """`flowctl run`, from its parsed options (by typer or by `parse_run`)."""
    from flowctl.commands.run import run_command
    from flowctl.state.locate import resolve_state_dir

    return run_command(
        spec,
        inputs=input or (),
        inputs_file=inputs_file,
        max_parallel=max_parallel,
        dry_run=dry_run,
        state_dir=resolve_state_dir(state_dir),
        history=history,
        audit_log=audit_log,
        report=report,
        junit=junit,
        output=output.value,
        no_progress=no_progress,
        approve=approve or (),
        auto_approve=auto_approve,
        executor=executor,
        scheduler=scheduler,
        workers=workers,
        force_all=force_all,
        force_run=force_run or (),
        watch=watch,
        keep_going=keep_going,
        show_output=show_output.value if show_output is not None else None,
        quiet=quiet,
        html_report=html_report,
    )
