"""`flowctl resume RUN_ID`: continue a failed, interrupted, timed-out or paused run."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from msgspec.structs import replace

from flowctl.errors import ExitCode, UsageError
from flowctl.state.paths import DEFAULT_STATE_DIR, RunPaths

OUTPUT_FORMATS = ("text", "json")


def resume_command(
    run_id: str,
    *,
    from_step: str | None = None,
    skip: str | None = None,
    outputs: str | None = None,
    force: bool = False,
    state_dir: Path = DEFAULT_STATE_DIR,
    history: Path | None = None,
    output: str = "text",
    no_progress: bool = False,
    approve: Sequence[str] = (),
    auto_approve: bool = False,
    executor: str | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    keep_going: bool = False,
    show_output: str | None = None,
    quiet: bool = False,
    junit: Path | None = None,
    html_report: Path | None = None,
) -> int:
    """Resume RUN_ID (a full id or a unique prefix); returns the exit code, as `run` does.

    Warnings about the journal (a torn last line, unreadable lines) go to stderr. A run
    that already completed is left as it is: exit 0, saying so.
    """
    from flowctl.runner.executors.choose import checked_choice
    from flowctl.runner.looplabels import journal_labels
    from flowctl.runner.options import RunOptions
    from flowctl.runner.resume.run import continue_run, plan_resume
    from flowctl.textout import safe_text

    from .run import present, watched

    if output not in OUTPUT_FORMATS:
        raise UsageError(f"--output must be one of {', '.join(OUTPUT_FORMATS)}, got {output!r}")
    plan = plan_resume(
        state_dir, run_id, from_step=from_step, skip=skip, skip_outputs=outputs, force=force
    )
    for warning in plan.warnings:
        sys.stderr.write(f"warning: {safe_text(warning)}\n")
    # The journal names the spec and the directory: say which ones this resume trusts.
    sys.stderr.write(
        f"resuming run {plan.run_id}: spec {safe_text(plan.workflow.source)},"
        f" working directory {safe_text(str(plan.workdir))}\n"
    )
    # A kill after run_finished but before the history line loses that line: put it back
    # (once: the journal's finished sessions say how many lines the run must have).
    from flowctl.runner.resume.history_repair import repair_history
    from flowctl.runner.session import history_path

    lines = history_path(plan.paths.state_dir, history, True)
    if lines is not None and repair_history(plan.workflow, plan.paths.audit, lines, plan.run_id):
        sys.stderr.write(f"repaired the missing history record of run {plan.run_id}\n")
    from flowctl.runner.resume.report_repair import repair_report

    if repair_report(plan):  # the same late kill can lose report.json (written last)
        sys.stderr.write(f"rebuilt the missing report.json of run {plan.run_id}\n")
    if plan.complete:
        _reports_of_a_finished_run(plan.paths, junit=junit, html_report=html_report, history=lines)
        if output == "json" and plan.paths.report.is_file():
            sys.stdout.write(plan.paths.report.read_text(encoding="utf-8"))
        else:
            sys.stdout.write(
                f"run {plan.run_id} is already complete; nothing to resume "
                "(use --from STEP to run steps again)\n"
            )
        return int(ExitCode.OK)
    choice = checked_choice(
        plan.workflow,
        executor=executor,
        scheduler=scheduler,
        workers=workers,
        recorded=plan.executor,
    )
    options = RunOptions.of(
        state_dir=plan.paths.state_dir,
        history=history,
        handle_signals=True,
        approve=approve,
        auto_approve=auto_approve,
        executor=choice,
        keep_going=keep_going,
    )
    from flowctl.runner.session import run_to_end

    result, console, shown = watched(
        lambda observers, interactive: run_to_end(
            continue_run(
                plan, replace(options, observers=tuple(observers), interactive=interactive)
            )
        ),
        no_progress=no_progress,
        output=output,
        show_output=show_output,
        quiet=quiet,
        loop_labels=journal_labels(plan.paths.audit),
        workflow=plan.workflow,
    )
    return present(
        result,
        console,
        output=output,
        shown=shown,
        workflow=plan.workflow,
        junit=junit,
        html_report=html_report,
    )


def _reports_of_a_finished_run(
    paths: RunPaths, *, junit: Path | None, html_report: Path | None, history: Path | None
) -> None:
    """A run that had already completed is not resumed, but a CI job asking for its JUnit
    file or HTML report still gets them, from the run's report.json."""
    if junit is None and html_report is None:
        return
    import json

    from flowctl.errors import StateError

    try:
        report = json.loads(paths.report.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StateError(f"cannot read the run report {paths.report}: {exc}") from exc
    if not isinstance(report, dict):
        raise StateError(f"the run report {paths.report} is not a JSON object")
    if junit is not None:
        from flowctl.junit import reports_from_run_report, write_junit

        steps = reports_from_run_report(report, audit=paths.audit)
        run_id, workflow = str(report.get("run_id") or paths.run_id), str(report.get("workflow"))
        write_junit(junit, run_id, workflow, steps)
    if html_report is not None:
        from flowctl.report.html import write_html_report

        write_html_report(paths.run_dir, html_report, history=history)
