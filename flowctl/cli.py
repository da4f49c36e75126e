"""The command line: parses options and hands each command to one core function.

Everything heavy (jsonschema, networkx, jinja2, httpx, the runner) is imported inside the
command that needs it, so `flowctl --help` starts as fast as a bare typer app.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from flowctl.choices import (
    AgentsFormat,
    GraphFormat,
    OptimizeFormat,
    RunOutput,
    ShowOutput,
    ValidateFormat,
)
from flowctl.errors import ExitCode


def _argument_type_label(self: object, ctx: object) -> str | None:
    """Typer labels each argument with a Python type (`<str>`, `<list[Path]>`); our
    arguments have metavars that say more (SPEC..., RUN_ID), so no label is shown."""
    return None


# Typer offers no per-parameter switch for this label; arguments only, options keep theirs.
setattr(typer.core.TyperArgument, "display_type_rich", _argument_type_label)  # noqa: B010

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

StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        metavar="DIR",
        help="Where runs, history and cache live. Default: $FLOWCTL_STATE_DIR, else the "
        "nearest .flowctl from here up to the git repository's root or your home, else "
        "./.flowctl.",
        show_default=False,
    ),
]

# Options `run` and `resume` share.
Approve = Annotated[
    list[str] | None,
    typer.Option("--approve", metavar="STEP", help="Approve this human_task up front; repeat."),
]
AutoApprove = Annotated[bool, typer.Option("--auto-approve", help="Approve every human_task.")]
History = Annotated[
    Path | None,
    typer.Option(
        "--history", metavar="FILE", help="History file (default STATE_DIR/history.jsonl)."
    ),
]
Output = Annotated[
    RunOutput,
    typer.Option(
        "--output", case_sensitive=False, help="json: the run report on stdout, progress on stderr."
    ),
]
NoProgress = Annotated[
    bool, typer.Option("--no-progress", help="Plain lines instead of the live view.")
]
Executor = Annotated[
    str | None,
    typer.Option(
        "--executor",
        metavar="local|dask",
        help="Where action steps run: local or dask (default $FLOWCTL_EXECUTOR).",
    ),
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler address, tcp://HOST:8786 (default $FLOWCTL_DASK_SCHEDULER); "
        "without one, a local cluster.",
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers", metavar="N", help="Worker processes of the local Dask cluster.", min=1
    ),
]
ShowOutputOpt = Annotated[
    ShowOutput | None,
    typer.Option(
        "--show-output",
        case_sensitive=False,
        help="Print each finished step's output as one block: of failed steps, of all, or "
        "none. Default: failed; all when CI, GITHUB_ACTIONS or GITLAB_CI is set.",
        show_default=False,
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary at the end.")]
KeepGoing = Annotated[
    bool,
    typer.Option(
        "--keep-going",
        "-k",
        help="A failure stops only the steps that depend on it; every other step runs to "
        "the end, and the run still fails (as `fail_fast: false`).",
    ),
]


def _state(given: Path | None) -> Path:
    from flowctl.state.locate import resolve_state_dir

    return resolve_state_dir(given)


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
    """Run a core command and exit with its code (errors reported as one message)."""
    from flowctl.commands.guard import guarded

    raise typer.Exit(guarded(command))


@app.command()
def validate(
    specs: Annotated[
        list[Path], typer.Argument(metavar="SPEC...", help="Workflow files to check (- for stdin).")
    ],
    format: Annotated[
        ValidateFormat,
        typer.Option(
            "--format",
            case_sensitive=False,
            help="text: one line per problem; json; github: workflow-command annotations; "
            "sarif: SARIF 2.1.0 for code scanning.",
        ),
    ] = ValidateFormat.TEXT,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    executor: Annotated[
        str | None,
        typer.Option(
            "--executor",
            metavar="local|dask",
            help="dask: also check what cannot run on a Dask worker.",
        ),
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
            specs, fmt=format.value, strict=strict, verbose=verbose, executor=executor
        )
    )


@app.command()
def run(
    spec: Annotated[Path, typer.Argument(metavar="SPEC", help="Workflow file to run.")],
    input: Annotated[
        list[str] | None,
        typer.Option("--input", "-i", metavar="NAME=VALUE", help="An input; repeat."),
    ] = None,
    inputs_file: Annotated[
        Path | None,
        typer.Option("--inputs-file", metavar="FILE", help="Inputs from a JSON or YAML file."),
    ] = None,
    max_parallel: Annotated[
        int | None,
        typer.Option("--max-parallel", metavar="N", help="Override max_parallel_steps.", min=1),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; run nothing.")
    ] = False,
    approve: Approve = None,
    auto_approve: AutoApprove = False,
    state_dir: StateDir = None,
    history: History = None,
    audit_log: Annotated[
        Path | None,
        typer.Option("--audit-log", metavar="FILE", help="Also copy the audit log here."),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", metavar="FILE", help="Also write the run report here."),
    ] = None,
    junit: Annotated[
        Path | None,
        typer.Option("--junit", metavar="FILE", help="Write a JUnit XML report here."),
    ] = None,
    output: Output = RunOutput.TEXT,
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
            "--force-run",
            metavar="STEP",
            help="Run this step and what depends on it even if up to date; repeat.",
        ),
    ] = None,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", help="Run again whenever a file some step's sources match changes."
        ),
    ] = False,
    keep_going: KeepGoing = False,
    show_output: ShowOutputOpt = None,
    quiet: Quiet = False,
    html_report: Annotated[
        Path | None,
        typer.Option(
            "--html-report", metavar="FILE", help="Write the run's HTML report here at the end."
        ),
    ] = None,
) -> None:
    """Run a workflow.

    Exit 0 completed, 1 failed, 2 invalid spec or input, 3 timed out, 4 waiting for approval,
    130 interrupted.
    """
    params = dict(locals())  # every parameter, by the names run_with takes
    from flowctl.runargs import run_with

    _call(lambda: run_with(**params))


@app.command(short_help="Continue a failed, interrupted, timed-out or paused run.")
def resume(
    run_id: Annotated[
        str, typer.Argument(metavar="RUN_ID", help="The run to continue (id or unique prefix).")
    ],
    from_step: Annotated[
        str | None,
        typer.Option(
            "--from", metavar="STEP", help="Run this step and everything downstream of it again."
        ),
    ] = None,
    skip: Annotated[
        str | None,
        typer.Option("--skip", metavar="STEP", help="Mark this failed step done (with --outputs)."),
    ] = None,
    outputs: Annotated[
        str | None,
        typer.Option(
            "--outputs", metavar="JSON", help="The skipped step's outputs, a JSON object."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Resume even though the spec file changed.")
    ] = False,
    approve: Approve = None,
    auto_approve: AutoApprove = False,
    state_dir: StateDir = None,
    history: History = None,
    output: Output = RunOutput.TEXT,
    no_progress: NoProgress = False,
    executor: Executor = None,
    scheduler: Scheduler = None,
    workers: Workers = None,
    keep_going: KeepGoing = False,
    show_output: ShowOutputOpt = None,
    quiet: Quiet = False,
    junit: Annotated[
        Path | None,
        typer.Option(
            "--junit", metavar="FILE", help="Write a JUnit XML report of the whole run here."
        ),
    ] = None,
    html_report: Annotated[
        Path | None,
        typer.Option(
            "--html-report", metavar="FILE", help="Write the run's HTML report here at the end."
        ),
    ] = None,
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
            state_dir=_state(state_dir),
            history=history,
            output=output.value,
            no_progress=no_progress,
            approve=approve or (),
            auto_approve=auto_approve,
            executor=executor,
            scheduler=scheduler,
            workers=workers,
            keep_going=keep_going,
            show_output=show_output.value if show_output is not None else None,
            quiet=quiet,
            junit=junit,
            html_report=html_report,
        )
    )


@app.command(short_help="Write a run's report as one self-contained HTML file.")
def report(
    run_id: Annotated[
        str, typer.Argument(metavar="RUN_ID", help="Run id, or a unique prefix of one.")
    ],
    html: Annotated[
        Path,
        typer.Option(
            "--html", metavar="FILE", help="Write the report here, as one self-contained file."
        ),
    ],
    state_dir: StateDir = None,
) -> None:
    """Write a run's HTML report: timeline of every attempt, graph, steps, logs, SLA."""
    from flowctl.commands.report import run_report

    _call(lambda: run_report(_state(state_dir), run_id, html=html))


@app.command(short_help="Print the JSON Schema of the workflow format.")
def schema() -> None:
    """Print the JSON Schema of the workflow format (for editors and CI)."""
    from flowctl.commands.schema import run_schema

    _call(run_schema)


@app.command(short_help="Print the dependency graph as Mermaid or dot.")
def graph(
    spec: Annotated[Path, typer.Argument(metavar="SPEC", help="Workflow file.")],
    format: Annotated[
        GraphFormat, typer.Option("--format", case_sensitive=False, help="The graph language.")
    ] = GraphFormat.MERMAID,
) -> None:
    """Print the workflow's dependency graph as Mermaid or Graphviz dot."""
    from flowctl.commands.graph import run_graph

    _call(lambda: run_graph(spec, format.value))


@runs_app.callback(invoke_without_command=True)
def runs(
    ctx: typer.Context,
    state_dir: StateDir = None,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", help="How many runs to list.", min=1)
    ] = 20,
) -> None:
    """List past runs, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from flowctl.commands.runs import list_runs

    _call(lambda: list_runs(_state(state_dir), limit=limit))


@runs_app.command("show")
def runs_show(
    run_id: Annotated[
        str, typer.Argument(metavar="RUN_ID", help="Run id, or a unique prefix of one.")
    ],
    step: Annotated[
        str | None,
        typer.Argument(
            metavar="[STEP]",
            help="Only this step and the steps inside it, with the end of their logs; a "
            "loop item by label or index (compile[lapi.c].cc or compile[0].cc).",
        ),
    ] = None,
    state_dir: StateDir = None,
) -> None:
    """Show one run step by step."""
    from flowctl.commands.runs import show_run

    _call(lambda: show_run(_state(state_dir), run_id, only=step))


@app.command(short_help="Approve or reject a paused human_task step.")
def approve(
    run_id: Annotated[
        str, typer.Argument(metavar="RUN_ID", help="The paused run (id or unique prefix).")
    ],
    step: Annotated[
        str, typer.Argument(metavar="STEP", help="The human_task step waiting for a decision.")
    ],
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead of approve.")] = False,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            metavar="NAME",
            help="A name to record beside the verified user (the CI actor, else the OS user).",
        ),
    ] = None,
    comment: Annotated[str | None, typer.Option("--comment", metavar="TEXT", help="Why.")] = None,
    state_dir: StateDir = None,
) -> None:
    """Record an approval decision for a paused run; then `flowctl resume RUN_ID`."""
    from flowctl.commands.approve import run_approve

    _call(
        lambda: run_approve(_state(state_dir), run_id, step, reject=reject, by=by, comment=comment)
    )


@cache_app.command("clear")
def cache_clear(state_dir: StateDir = None) -> None:
    """Remove every cached step result."""
    from flowctl.commands.cache import run_cache_clear

    _call(lambda: run_cache_clear(_state(state_dir)))


@app.command()
def optimize(
    history: Annotated[Path, typer.Argument(metavar="HISTORY", help="A history.jsonl file.")],
    workflow: Annotated[
        str | None,
        typer.Option("--workflow", metavar="NAME", help="Analyse only this workflow."),
    ] = None,
    top: Annotated[
        int, typer.Option("--top", metavar="N", help="How many recommendations.", min=1)
    ] = 5,
    format: Annotated[
        OptimizeFormat, typer.Option("--format", case_sensitive=False, help="The report's form.")
    ] = OptimizeFormat.TABLE,
    output: Annotated[
        Path | None, typer.Option("--output", metavar="FILE", help="Write here.")
    ] = None,
    spec: Annotated[
        Path | None,
        typer.Option("--spec", metavar="SPEC", help="The workflow file, for data-flow advice."),
    ] = None,
) -> None:
    """Turn run history into ranked, computed recommendations."""
    from flowctl.commands.optimize import run_optimize

    _call(
        lambda: run_optimize(
            history, workflow=workflow, top=top, fmt=format.value, output=output, spec_path=spec
        )
    )


@app.command(short_help="List agents: capabilities, pool size, history.")
def agents(
    spec: Annotated[
        Path | None,
        typer.Argument(metavar="[SPEC]", help="Workflow file (default: every agent in history)."),
    ] = None,
    history: History = None,
    format: Annotated[
        AgentsFormat, typer.Option("--format", case_sensitive=False, help="The listing's form.")
    ] = AgentsFormat.TABLE,
    state_dir: StateDir = None,
) -> None:
    """List agents: capabilities, pool size, and from history their runs, success rate,
    p50/p95 latency, queue wait p95 and utilisation."""
    from flowctl.commands.agents import run_agents

    path = history if history is not None else _state(state_dir) / "history.jsonl"
    _call(lambda: run_agents(spec, path, fmt=format.value))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
