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

StateDir = Annotated[Path, typer.Option("--state-dir", help="Where runs, history and cache live.")]
DEFAULT_STATE_DIR = Path(".flowctl")


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
) -> None:
    """Check workflow files: YAML, schema and graph. Exit 2 with every problem listed."""
    from flowctl.commands.validate import run_validate

    _call(lambda: run_validate(specs, fmt=format.lower(), strict=strict))


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
    from flowctl.optimize.command import run_optimize

    _call(
        lambda: run_optimize(
            history, workflow=workflow, top=top, fmt=format.lower(), output=output, spec_path=spec
        )
    )


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
