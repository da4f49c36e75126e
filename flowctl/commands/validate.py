"""`flowctl validate SPEC...`: YAML, schema and graph checks of workflow files."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import Struct

from flowctl.choices import ValidateFormat
from flowctl.errors import ExitCode, Problem, Severity, UsageError

if TYPE_CHECKING:
    from flowctl.spec.model import Workflow

STDIN = Path("-")


class FileVerdict(Struct, frozen=True):
    """The outcome for one file: its problems and, when it loaded, its step count."""

    file: str
    problems: list[Problem]
    steps: int | None
    strict: bool
    # (earlier, later): dependencies implied by files (sources/generates), not written
    inferred: tuple[tuple[str, str], ...] = ()

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.WARNING]

    @property
    def valid(self) -> bool:
        # --strict makes warnings fatal, as compilers' -Werror does.
        return not self.errors and not (self.strict and self.warnings) and self.steps is not None

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "valid": self.valid,
            "steps": self.steps,
            "problems": [p.to_json() for p in self.problems],
            "inferred_edges": [{"from": a, "to": b, "why": "files"} for a, b in self.inferred],
        }


def check_file(path: Path, *, strict: bool = False, remote: bool = False) -> FileVerdict:
    """Validate one file (`-` reads standard input); never raises for a bad spec.

    With `remote` (or a spec whose `executor:` is dask), also what cannot cross to a Dask
    worker: this imports the modules its python steps name, as `run` would.
    """
    from flowctl.spec.load import validate_path, validate_stream

    if path == STDIN:
        validation = validate_stream(sys.stdin.buffer, "<stdin>")
    else:
        validation = validate_path(path)
    workflow = validation.workflow
    steps = None if workflow is None else sum(1 for _ in workflow.walk())
    inferred = (
        tuple((dep, s.id) for s, _ in workflow.walk() for dep in s.file_dependencies)
        if workflow is not None
        else ()
    )
    problems = list(validation.problems)
    if workflow is not None and (
        remote or (workflow.executor is not None and workflow.executor.kind == "dask")
    ):
        problems += _remote_problems(workflow)
    return FileVerdict(validation.source, problems, steps, strict, inferred)


def _remote_problems(workflow: Workflow) -> list[Problem]:
    from flowctl.runner.calls.pycall import ensure_on_sys_path
    from flowctl.runner.executors.choose import remote_problems

    if workflow.source and Path(workflow.source).is_file():
        ensure_on_sys_path(Path(workflow.source).resolve().parent)
    return remote_problems(workflow)


def run_validate(
    paths: Sequence[Path],
    *,
    fmt: str = "text",
    strict: bool = False,
    verbose: bool = False,
    executor: str | None = None,
) -> int:
    """Check every file, print what was found; 0 when all are valid, else 2. With
    `executor="dask"`, also what cannot run on a Dask worker."""
    try:
        chosen = ValidateFormat(fmt)
    except ValueError:
        choices = ", ".join(f.value for f in ValidateFormat)
        raise UsageError(f"unknown format {fmt!r}; choose one of: {choices}") from None
    if not paths:
        raise UsageError("give at least one workflow file to validate")
    if executor not in (None, "local", "dask"):
        raise UsageError(f"unknown executor {executor!r}: choose one of local, dask")
    remote = executor == "dask"
    verdicts = [check_file(path, strict=strict, remote=remote) for path in paths]
    if chosen is ValidateFormat.JSON:
        document = {
            "valid": all(v.valid for v in verdicts),
            "files": [v.to_json() for v in verdicts],
        }
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    elif chosen is ValidateFormat.SARIF:
        from flowctl.commands.validate_ci import sarif_text

        sys.stdout.write(sarif_text(verdicts))
    elif chosen is ValidateFormat.GITHUB:
        from flowctl.commands.validate_ci import github_annotations

        sys.stdout.write(github_annotations(verdicts))
        _print_verdicts(verdicts)
    else:
        _print_text(verdicts, verbose=verbose)
    return ExitCode.OK if all(v.valid for v in verdicts) else ExitCode.USAGE


def _print_text(verdicts: Sequence[FileVerdict], *, verbose: bool = False) -> None:
    """Diagnostics go to stdout, as ruff and mypy do: they are what the command produces."""
    from flowctl.console import make_console, print_problems

    console = make_console()
    for verdict in verdicts:
        print_problems(verdict.problems, console=console)
        console.print(_verdict_line(verdict), soft_wrap=True, highlight=False, markup=False)
        if verbose:
            for earlier, later in verdict.inferred:
                console.print(
                    f"  inferred from files: {later} runs after {earlier} "
                    f"(its sources match what {earlier} generates)",
                    soft_wrap=True,
                    highlight=False,
                    markup=False,
                )


def _print_verdicts(verdicts: Sequence[FileVerdict]) -> None:
    """`file: ok (N steps)` or `file: invalid (...)` for each file, nothing more."""
    for verdict in verdicts:
        sys.stdout.write(_verdict_line(verdict) + "\n")


def _verdict_line(verdict: FileVerdict) -> str:
    if verdict.valid:
        return f"{verdict.file}: ok ({_count(verdict.steps or 0, 'step')} in the file)"
    parts = [_count(len(verdict.errors), "error")] if verdict.errors else []
    if verdict.warnings:
        suffix = " made fatal by --strict" if verdict.strict else ""
        parts.append(_count(len(verdict.warnings), "warning") + suffix)
    return f"{verdict.file}: invalid ({', '.join(parts) or 'not loaded'})"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
