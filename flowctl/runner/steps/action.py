"""The `action` step: a shell command (`run:`) or a Python callable (`python:`)."""

from __future__ import annotations

import functools
import json
import os
import re
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flowctl.errors import ExpressionError
from flowctl.expressions import is_template
from flowctl.runner.calls.process import ProcessResult
from flowctl.runner.executors.api import ExecutorKind
from flowctl.runner.steps.base import FailureKind, Outputs, StepContext, StepFailure
from flowctl.secrets import SecretMasker, clip
from flowctl.spec.model import ActionStep, ShellCommand

OUTPUT_FILE = "output"  # <ctx.scratch>.output; exported as $FLOWCTL_OUTPUT
METRICS_FILE = "metrics"  # <ctx.scratch>.metrics; exported as $FLOWCTL_METRICS
MAX_OUTPUT_FILE = 16 * 1024 * 1024  # bytes of $FLOWCTL_OUTPUT read at most
STDERR_TAIL_LINES = 5  # lines of stderr quoted in a failure message
RESERVED_OUTPUTS = frozenset(
    {"exit_code", "stdout", "stderr", "stdout_truncated", "stderr_truncated"}
)

_OUTPUT_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")

# The first word of a command that only a shell understands (builtins, keywords, and
# utilities whose builtin and /usr/bin versions differ): such scripts always go to the shell.
# fmt: off
_SHELL_WORDS = frozenset({
    ".", ":", "[", "[[", "alias", "bg", "break", "case", "cd", "command", "continue",
    "declare", "echo", "eval", "exec", "exit", "export", "false", "fc", "fg", "for",
    "function", "getopts", "hash", "if", "jobs", "kill", "let", "local", "printf", "pwd",
    "read", "readonly", "return", "select", "set", "shift", "source", "test", "time",
    "times", "trap", "type", "typeset", "ulimit", "umask", "unalias", "unset", "until",
    "wait", "while",
})
# fmt: on
_SHELL_CHARS = frozenset("#;&|<>()$`\\\"'*?[]{}~=%!^\n\r\t")
_POSIX_SHELLS = frozenset({"sh", "dash", "ash", "bash", "ksh", "mksh", "zsh"})


class ActionExecutor:
    """Runs `run:` commands and `python:` callables (agent steps go through
    flowctl.runner.agents, which runs the chosen agent's command or callable).

    Shell semantics follow GitHub Actions: `sh -e -c SCRIPT` by default, and for bash
    `bash --noprofile --norc -e -o pipefail -c SCRIPT`, so a failing line fails the step;
    any other shell gets `SHELL -c SCRIPT`. Every `{{ }}` in the script reaches the shell
    as an environment variable, never as text. A script that is one plain command (no
    character a shell would interpret, not a builtin) is exec'd directly, as make does.

    Shell outputs: `exit_code`, `stdout`, `stderr` (masked; trailing newlines removed, as
    `$(...)` does; only the last 1 MiB of each is kept in memory, and then
    `stdout_truncated` / `stderr_truncated` is true; the step log has everything), plus
    what the command wrote to `$FLOWCTL_OUTPUT`: one JSON object, or `key=value` lines
    (values stay strings; `key<<EOF` ... `EOF` for multi-line values). Numeric
    `name=value` lines in `$FLOWCTL_METRICS` become custom metrics.

    Python: the callable gets the params as keyword arguments, plus `ctx` if it has such
    a parameter; a mapping result is the outputs, anything else `{"result": value}`.
    """

    async def execute(self, ctx: StepContext) -> Outputs:
        step = ctx.step
        if not isinstance(step, ActionStep):
            raise StepFailure(
                f"step {step.id!r} is a {step.type} step, not an action", retryable=False
            )
        if step.agent_capability is not None:
            raise StepFailure(
                f"step {step.id!r} asks for agent capability {step.agent_capability!r}, "
                "but this run has no agents",
                kind=FailureKind.VALIDATION,
                retryable=False,
            )
        if step.command is not None:
            return await run_shell(ctx, step.command)
        if step.python is not None:
            return await call_python(ctx, step.python)
        raise StepFailure(
            f"action step {step.id!r} has neither `run` nor `python`", retryable=False
        )


EXECUTOR = ActionExecutor()


# -- shell -----------------------------------------------------------------------------------


def _render(text: str, names: Mapping[str, Any]) -> str:
    """A templated value rendered; a literal one as it is, without importing Jinja2."""
    if not is_template(text):
        return text
    from flowctl.expressions import compile_template

    return compile_template(text).render(names)


async def run_shell(ctx: StepContext, command: ShellCommand) -> Outputs:
    """Run one `run:` command for this attempt (also used for rollback actions)."""
    try:
        # Most commands are literal: no rendering, no placeholder variables.
        if is_template(command.run):
            from flowctl.expressions import render_shell

            script = render_shell(command.run, ctx.names)
            script_text, script_env = script.script, script.env
        else:
            script_text, script_env = command.run, {}
        cwd = resolve_working_dir(command.working_dir, ctx)
        step_env = {name: _render(value, ctx.names) for name, value in command.env.items()}
    except ExpressionError as exc:
        raise StepFailure(
            ctx.masker.mask(str(exc)), kind=FailureKind.EXPRESSION, retryable=False
        ) from None
    shell = _shell_argv(command.shell)
    # Files beside the attempt's (unique, not yet created) scratch path: no earlier attempt's
    # outputs, and no directory to make per step.
    output_path = ctx.scratch.with_name(f"{ctx.scratch.name}.{OUTPUT_FILE}")
    metrics_path = ctx.scratch.with_name(f"{ctx.scratch.name}.{METRICS_FILE}")

    # Additions to the environment of the host the command runs on (the executor's).
    env = dict(ctx.env)
    env.update(step_env)
    if "FLOWCTL_IDEMPOTENCY_KEY" not in env and "FLOWCTL_IDEMPOTENCY_KEY" not in os.environ:
        env["FLOWCTL_IDEMPOTENCY_KEY"] = ctx.idempotency_key
    env["FLOWCTL_RUN_ID"] = ctx.run_id
    env["FLOWCTL_STEP_ID"] = ctx.qualified_id
    env["FLOWCTL_ATTEMPT"] = str(ctx.attempt)
    env.update(script_env)

    result = await _spawn(ctx, shell, script_text, cwd, env, (output_path, metrics_path))
    outputs: dict[str, Any] = {
        "exit_code": result.exit_code,
        "stdout": result.stdout.rstrip("\n"),
        "stderr": result.stderr.rstrip("\n"),
    }
    if result.stdout_truncated:
        outputs["stdout_truncated"] = True
    if result.stderr_truncated:
        outputs["stderr_truncated"] = True
    if ctx.step.metrics_enabled:
        _read_metrics(ctx, metrics_path)
    if result.returncode != 0:
        outputs.update(_read_outputs_lenient(ctx, output_path))
        raise StepFailure(
            _exit_message(ctx, result),
            kind=FailureKind.EXIT_CODE,
            exit_code=result.exit_code,
            outputs=outputs,
        )
    outputs.update(_read_outputs(ctx, output_path))
    return outputs


async def _spawn(
    ctx: StepContext,
    shell: list[str],
    script: str,
    cwd: Path,
    env: dict[str, str],
    files: tuple[Path, Path],
) -> ProcessResult:
    argv = _direct_argv(script) if Path(shell[0]).name in _POSIX_SHELLS else None
    # A plain command is exec'd directly; if that cannot start, the shell handles or
    # reports it the way users know ("not found", 127).
    argvs = [argv, [*shell, script]] if argv is not None else [[*shell, script]]
    try:
        return await ctx.executor.shell(
            ctx, argvs, cwd=cwd, env=env, output_path=files[0], metrics_path=files[1]
        )
    except ValueError as exc:  # a NUL byte in an environment value or in the script
        raise StepFailure(f"cannot start the command: {exc}", retryable=False) from None
    except OSError as exc:
        raise StepFailure(
            ctx.masker.mask(f"cannot start {shell[0]!r}: {exc.strerror or exc}"), retryable=False
        ) from None


def _direct_argv(script: str) -> list[str] | None:
    """The argv of a script that is one plain command, to exec without a shell (as make does).

    Only when no character could mean anything to a shell and the first word is not one
    the shell implements itself; then exec and `sh -c` behave the same, minus one exec.
    """
    if not script or not _SHELL_CHARS.isdisjoint(script):
        return None
    words = script.split()
    if not words or words[0] in _SHELL_WORDS:
        return None
    return words


@functools.lru_cache(maxsize=32)
def _shell_argv_cached(shell: str) -> tuple[str, ...]:
    import shutil  # here: it imports bz2 and lzma, which a run of up-to-date steps never needs

    path = shell if "/" in shell else shutil.which(shell)
    if path is None:
        raise LookupError(shell)
    name = Path(path).name
    if name == "bash":
        return (path, "--noprofile", "--norc", "-e", "-o", "pipefail", "-c")
    if name in _POSIX_SHELLS:
        return (path, "-e", "-c")
    return (path, "-c")


def _shell_argv(shell: str | None) -> list[str]:
    try:
        return list(_shell_argv_cached(shell or "/bin/sh"))
    except LookupError:
        raise StepFailure(
            f"shell {shell!r} is not installed (not found on PATH)", retryable=False
        ) from None


def resolve_working_dir(working_dir: str | None, ctx: StepContext) -> Path:
    """The directory a command runs in (SECURITY.md 9).

    A literal path is the author's choice and used as written (relative to ctx.workdir).
    A templated one must stay inside the directory its literal prefix names: `/tmp/` for
    `/tmp/{{ x }}` and `/tmp/run-{{ x }}`, `ctx.workdir/sub/` for `sub/{{ x }}`, ctx.workdir
    when it starts with a placeholder. The check is on the resolved path (`..` and
    symlinks followed), so an input value cannot move the command anywhere else.
    """
    return working_dir_in(
        working_dir,
        ctx.workdir,
        ctx.names,
        ctx.masker,
        check_exists=ctx.executor.local_files,
    )


def working_dir_in(
    working_dir: str | None,
    workdir: Path,
    names: Mapping[str, Any],
    masker: SecretMasker,
    *,
    check_exists: bool = True,
) -> Path:
    """resolve_working_dir without a StepContext (also used to find a step's files)."""
    if working_dir is None:
        return workdir
    if not is_template(working_dir):
        path = workdir / working_dir
    else:
        rendered = _render(working_dir, names)
        literal = working_dir[: min(_find(working_dir, "{{"), _find(working_dir, "{%"))]
        base = workdir / literal[: literal.rfind("/") + 1]
        path = workdir / rendered
        real, real_base = path.resolve(), base.resolve()
        if real != real_base and real_base not in real.parents:
            raise StepFailure(
                masker.mask(
                    f"security: working_dir {working_dir!r} resolves to {str(real)!r},"
                    f" outside {str(real_base)!r} (the directory written before its first"
                    " placeholder); a templated working_dir must stay inside it"
                ),
                kind=FailureKind.SECURITY,
                retryable=False,
            )
        path = real
    path = Path(os.path.normpath(path))
    # On a remote executor the directory is on the worker's host: the worker checks it.
    if check_exists and not path.is_dir():
        raise StepFailure(masker.mask(f"working_dir {str(path)!r} is not a directory"))
    return path


def _find(text: str, needle: str) -> int:
    index = text.find(needle)
    return len(text) if index < 0 else index


def _exit_message(ctx: StepContext, result: ProcessResult) -> str:
    if result.signal_name is not None:
        head = f"command killed by {result.signal_name} (exit code {result.exit_code})"
    else:
        head = f"command exited with code {result.exit_code}"
    # Masked before it is cut: a secret cut in half is no longer recognised as one.
    stderr = ctx.masker.mask(result.stderr)
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return head
    tail = clip(" | ".join(lines[-STDERR_TAIL_LINES:]), 500, keep_end=True)
    return f"{head}: {tail}"


# -- $FLOWCTL_OUTPUT and $FLOWCTL_METRICS ----------------------------------------------------


def _read_text(path: Path, what: str) -> str | None:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_OUTPUT_FILE + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StepFailure(f"cannot read {what}: {exc.strerror or exc}", retryable=False) from None
    if len(data) > MAX_OUTPUT_FILE:
        raise StepFailure(
            f"{what} is larger than {MAX_OUTPUT_FILE // (1024 * 1024)} MiB", retryable=False
        )
    return data.decode("utf-8", errors="replace")


def _read_outputs(ctx: StepContext, path: Path) -> dict[str, Any]:
    text = _read_text(path, "$FLOWCTL_OUTPUT")
    if text is None or not text.strip():
        return {}
    try:
        values = parse_output_file(text)
    except ValueError as exc:
        raise StepFailure(ctx.masker.mask(f"$FLOWCTL_OUTPUT: {exc}"), retryable=False) from None
    clash = RESERVED_OUTPUTS.intersection(values)
    if clash:
        raise StepFailure(
            f"$FLOWCTL_OUTPUT: {', '.join(sorted(clash))} is reserved for flowctl's own outputs",
            retryable=False,
        )
    return values


def _read_outputs_lenient(ctx: StepContext, path: Path) -> dict[str, Any]:
    """Outputs of a failed command, for error handlers; a broken file adds nothing."""
    try:
        return _read_outputs(ctx, path)
    except StepFailure:
        return {}


def parse_output_file(text: str) -> dict[str, Any]:
    """Parse $FLOWCTL_OUTPUT: one JSON object, or `key=value` / `key<<DELIM` lines."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from None
        if not isinstance(value, dict):
            raise ValueError("the JSON must be one object")
        return value
    values: dict[str, Any] = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        heredoc = re.match(r"^([^=<]+)<<(\S+)\s*$", line)
        if heredoc:
            key, delimiter = heredoc.group(1).strip(), heredoc.group(2)
            body: list[str] = []
            while index < len(lines) and lines[index] != delimiter:
                body.append(lines[index])
                index += 1
            if index >= len(lines):
                raise ValueError(f"line {index}: {key}<<{delimiter} is never closed")
            index += 1
            value_text = "\n".join(body)
        elif "=" in line:
            key, value_text = line.split("=", 1)
            key = key.strip()
        else:
            raise ValueError(f"line {index}: expected key=value, got {clip(line, 80)!r}")
        if not _OUTPUT_KEY.match(key):
            raise ValueError(f"line {index}: {clip(key, 80)!r} is not a valid output name")
        values[key] = value_text
    return values


def _read_metrics(ctx: StepContext, path: Path) -> None:
    text = _read_text(path, "$FLOWCTL_METRICS")
    if not text:
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if sep and _OUTPUT_KEY.match(name) and _NUMBER.match(value):
            ctx.metric(name, float(value))
        else:
            # Metrics are advisory: a bad line is reported in the log, not a step failure.
            ctx.log.write(
                f"[flowctl] $FLOWCTL_METRICS line {number} ignored: expected name=<number>\n"
            )


# -- python ----------------------------------------------------------------------------------


async def call_python(ctx: StepContext, reference: str) -> Outputs:
    """Call a `python:` callable with the params (and ctx); its result becomes the outputs."""
    if is_template(reference):
        raise StepFailure(
            "python: must name a function literally ('package.module:function'); "
            "templates are not allowed there",
            kind=FailureKind.VALIDATION,
            retryable=False,
        )
    # Imported here: a workflow of shell steps never resolves a callable.
    from flowctl.runner.calls.pycall import PythonRefError, PythonTarget, resolve

    remote = ctx.executor.kind is not ExecutorKind.LOCAL
    try:
        target: PythonTarget | None = resolve(reference)
    except PythonRefError as exc:
        if not remote:
            raise StepFailure(ctx.masker.mask(exc.message), retryable=False) from None
        target = None  # maybe importable on the workers only: they say if it is not
    kwargs: dict[str, Any] = dict(ctx.params)
    if target is not None:
        try:
            target.check_params(ctx.params)
        except PythonRefError as exc:
            raise StepFailure(ctx.masker.mask(exc.message), retryable=False) from None
        if target.accepts_ctx and remote:
            raise StepFailure(
                f"{reference} takes `ctx`, which cannot cross to a Dask worker "
                "(remove the parameter, or run with --executor local)",
                kind=FailureKind.UNSUPPORTED,
                retryable=False,
            )
        if target.accepts_ctx:
            kwargs["ctx"] = ctx
    try:
        value = await ctx.executor.python(ctx, reference, kwargs)
    except StepFailure as exc:
        exc.message = ctx.masker.mask(exc.message)
        exc.args = (exc.message,)
        raise
    except ExpressionError as exc:
        raise StepFailure(
            ctx.masker.mask(str(exc)), kind=FailureKind.EXPRESSION, retryable=False
        ) from None
    except (Exception, SystemExit) as exc:  # sys.exit() in a step must not end flowctl
        # The traceback is for the author, in the step log; the failure is one line.
        ctx.log.write(ctx.masker.mask("".join(traceback.format_exception(exc))))
        raise StepFailure(ctx.masker.mask(f"{type(exc).__name__}: {exc}")) from None
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    return {"result": value}
