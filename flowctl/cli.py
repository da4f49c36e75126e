"""The command line: parses options and hands each command to one core function.

Everything heavy (jsonschema, networkx, jinja2, httpx, the runner) is imported inside the
command that needs it, so `flowctl --help` starts as fast as a bare typer app.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from flowctl.errors import ExitCode, FlowctlError
from flowctl.state.paths import DEFAULT_STATE_DIR

app = typer.Typer(
    name="flowctl",
    help="Validate, run, resume and optimize YAML workflows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
runs_app = typer.Typer(help="List past runs, or show one step by step.", no_args_is_help=False)
app.add_typer(runs_app, name="runs")
cache_app = typer.Typer(help="The step cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")

StateDir = Annotated[Path, typer.Option("--state-dir", help="Where runs, history and cache live.")]

# Options `run` and `resume` share.
Approve = Annotated[
    list[str] | None, typer.Option("--approve", help="Approve this human_task up front.")
]
AutoApprove = Annotated[bool, typer.Option("--auto-approve", help="Approve every human_task.")]
History = Annotated[
    Path | None,
    typer.Option("--history", help="History file (default STATE_DIR/history.jsonl)."),
]
Output = Annotated[str, typer.Option("--output", help="text or json.")]
NoProgress = Annotated[
    bool, typer.Option("--no-progress", help="Plain lines instead of the live view.")
]
Executor = Annotated[
    str | None,
    typer.Option(
        "--executor", help="Where action steps run: local or dask (default $FLOWCTL_EXECUTOR)."
    ),
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Dask scheduler address, tcp://HOST:8786 (default $FLOWCTL_DASK_SCHEDULER); "
        "without one, a local cluster.",
    ),
]
Workers = Annotated[
    int | None,
    typer.Option("--workers", help="Worker processes of the local Dask cluster.", min=1),
]


def _print_version(value: bool) -> None:
    if value:
        from flowctl import version

        print(f"flowctl {version()}")
        raise typer.Exit(int(ExitCode.OK))


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print flowctl's version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Validate, run, resume and optimize YAML workflows."""


def _call(command: Callable[[], int]) -> None:
    """Run a core command; turn flowctl's errors into one message and an exit code."""
    try:
        code = command()
    except FlowctlError as err:
        from flowctl.console import report_error

        code = report_error(err)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = ExitCode.INTERRUPTED
    except BrokenPipeError:
        # A closed pipe (`flowctl runs | head`) is not an error worth a traceback.
        sys.stderr.close()
        code = ExitCode.OK
    except Exception as exc:  # a bug in flowctl: say so plainly, keep details opt-in
        if os.environ.get("FLOWCTL_DEBUG"):
            raise
        print(
            f"flowctl: internal error: {type(exc).__name__}: {exc}\n"
            "(set FLOWCTL_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        code = ExitCode.FAILED
    raise typer.Exit(int(code))


@app.command()
def validate(
    specs: Annotated[list[Path], typer.Argument(help="Workflow files to check.")],
    format: Annotated[
        str, typer.Option("--format", help="text or json.", case_sensitive=False)
    ] = "text",
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    executor: Annotated[
        str | None,
        typer.Option("--executor", help="dask: also check what cannot run on a Dask worker."),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Also list dependencies inferred from files."),
    ] = False,
) -> None:
    """Check workflow files: YAML, schema and graph. Exit 2 with every problem listed."""
    from flowctl.commands.validate import run_validate

    _call(
        lambda: run_validate(
            specs, fmt=format.lower(), strict=strict, verbose=verbose, executor=executor
        )
    )


@app.command()
def run(
    spec: Annotated[Path, typer.Argument(help="Workflow file to run.")],
    input: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="An input as NAME=VALUE; repeat.")
    ] = None,
    inputs_file: Annotated[
        Path | None, typer.Option("--inputs-file", help="Inputs from a JSON or YAML file.")
    ] = None,
    max_parallel: Annotated[
        int | None, typer.Option("--max-parallel", help="Override max_parallel_steps.", min=1)
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; run nothing.")
    ] = False,
    approve: Approve = None,
    auto_approve: AutoApprove = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    history: History = None,
    audit_log: Annotated[
        Path | None, typer.Option("--audit-log", help="Also copy the audit log here.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write the run report here.")
    ] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write a JUnit XML report here.")
    ] = None,
    output: Output = "text",
    no_progress: NoProgress = False,
    executor: Executor = None,
    scheduler: Scheduler = None,
    workers: Workers = None,
    force_all: Annotated[
        bool,
        typer.Option("--force-all", help="Run steps with sources/generates even if up to date."),
    ] = False,
    force_run: Annotated[
        list[str] | None,
        typer.Option(
            "--force-run", help="Run this step and what depends on it even if up to date; repeat."
        ),
    ] = None,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", help="Run again whenever a file some step's sources match changes."
        ),
    ] = False,
) -> None:
    """Run a workflow.

    Exit 0 completed, 1 failed, 2 invalid spec or input, 3 timed out, 4 waiting for approval,
    130 interrupted.
    """
    from flowctl.commands.run import run_command

    _call(
        lambda: run_command(
            spec,
            inputs=input or (),
            inputs_file=inputs_file,
            max_parallel=max_parallel,
            dry_run=dry_run,
            state_dir=state_dir,
            history=history,
            audit_log=audit_log,
            report=report,
            junit=junit,
            output=output.lower(),
            no_progress=no_progress,
            approve=approve or (),
            auto_approve=auto_approve,
            executor=executor,
            scheduler=scheduler,
            workers=workers,
            force_all=force_all,
            force_run=force_run or (),
            watch=watch,
        )
    )


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(help="The run to continue (id or unique prefix).")],
    from_step: Annotated[
        str | None,
        typer.Option("--from", help="Run this step and everything downstream of it again."),
    ] = None,
    skip: Annotated[
        str | None, typer.Option("--skip", help="Mark this failed step done (with --outputs).")
    ] = None,
    outputs: Annotated[
        str | None, typer.Option("--outputs", help="The skipped step's outputs, a JSON object.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Resume even though the spec file changed.")
    ] = False,
    approve: Approve = None,
    auto_approve: AutoApprove = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    history: History = None,
    output: Output = "text",
    no_progress: NoProgress = False,
    executor: Executor = None,
    scheduler: Scheduler = None,
    workers: Workers = None,
) -> None:
    """Continue a failed, interrupted, timed-out or paused run from its audit log.

    Completed steps are not run again. Exit codes as `run`; a run that already completed
    exits 0 and changes nothing.
    """
    from flowctl.commands.resume import resume_command

    _call(
        lambda: resume_command(
            run_id,
            from_step=from_step,
            skip=skip,
            outputs=outputs,
            force=force,
            state_dir=state_dir,
            history=history,
            output=output.lower(),
            no_progress=no_progress,
            approve=approve or (),
            auto_approve=auto_approve,
            executor=executor,
            scheduler=scheduler,
            workers=workers,
        )
    )


@app.command()
def schema() -> None:
    """Print the JSON Schema of the workflow format (for editors and CI)."""
    from flowctl.commands.schema import run_schema

    _call(run_schema)


@app.command()
def graph(
    spec: Annotated[Path, typer.Argument(help="Workflow file.")],
    format: Annotated[str, typer.Option("--format", help="mermaid or dot.")] = "mermaid",
) -> None:
    """Print the workflow's dependency graph as Mermaid or Graphviz dot."""
    from flowctl.commands.graph import run_graph

    _call(lambda: run_graph(spec, format.lower()))


@runs_app.callback(invoke_without_command=True)
def runs(
    ctx: typer.Context,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    limit: Annotated[int, typer.Option("--limit", help="How many runs to list.")] = 20,
) -> None:
    """List past runs, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from flowctl.commands.runs import list_runs

    _call(lambda: list_runs(state_dir, limit=limit))


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Run id, or a unique prefix of one.")],
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Show one run step by step."""
    from flowctl.commands.runs import show_run

    _call(lambda: show_run(state_dir, run_id))


@app.command()
def approve(
    run_id: Annotated[str, typer.Argument(help="The paused run (id or unique prefix).")],
    step: Annotated[str, typer.Argument(help="The human_task step waiting for a decision.")],
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead of approve.")] = False,
    by: Annotated[str | None, typer.Option("--by", help="Who decides (default: $USER).")] = None,
    comment: Annotated[str | None, typer.Option("--comment", help="Why.")] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Record an approval decision for a paused run; then `flowctl resume RUN_ID`."""
    from flowctl.commands.approve import run_approve

    _call(lambda: run_approve(state_dir, run_id, step, reject=reject, by=by, comment=comment))


@cache_app.command("clear")
def cache_clear(state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Remove every cached step result."""
    from flowctl.commands.cache import run_cache_clear

    _call(lambda: run_cache_clear(state_dir))


@app.command()
def optimize(
    history: Annotated[Path, typer.Argument(help="A history.jsonl file.")],
    workflow: Annotated[
        str | None, typer.Option("--workflow", help="Analyse only this workflow.")
    ] = None,
    top: Annotated[int, typer.Option("--top", help="How many recommendations.", min=1)] = 5,
    format: Annotated[str, typer.Option("--format", help="table, json or markdown.")] = "table",
    output: Annotated[Path | None, typer.Option("--output", help="Write here.")] = None,
    spec: Annotated[
        Path | None, typer.Option("--spec", help="The workflow file, for data-flow advice.")
    ] = None,
) -> None:
    """Turn run history into ranked, computed recommendations."""
    from flowctl.commands.optimize import run_optimize

    _call(
        lambda: run_optimize(
            history, workflow=workflow, top=top, fmt=format.lower(), output=output, spec_path=spec
        )
    )


@app.command()
def agents(
    spec: Annotated[
        Path | None, typer.Argument(help="Workflow file (default: every agent in history).")
    ] = None,
    history: History = None,
    format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """List agents: capabilities, pool size, and from history their runs, success rate,
    p50/p95 latency, queue wait p95 and utilisation."""
    from flowctl.commands.agents import run_agents

    path = history if history is not None else state_dir / "history.jsonl"
    _call(lambda: run_agents(spec, path, fmt=format.lower()))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
