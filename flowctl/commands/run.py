"""`flowctl run SPEC`: run a workflow with live progress, then say what happened, cause first."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msgspec import Struct
from msgspec.structs import replace

from flowctl.errors import ExitCode, StateError, UsageError
from flowctl.spec.model import Workflow
from flowctl.state.paths import DEFAULT_STATE_DIR
from flowctl.status import RunStatus, StepStatus

if TYPE_CHECKING:
    from flowctl.progress.console_plan import ConsolePlan
    from flowctl.runner.events import RunObserver
    from flowctl.runner.options import RunOptions
    from flowctl.runner.results import RunResult, StepResult
    from flowctl.textout import Output

OUTPUT_FORMATS = ("text", "json")
_LIST_LIMIT = 8  # ids named per line of the summary before "+N more"


def run_command(
    spec: Path,
    *,
    inputs: Sequence[str] = (),
    inputs_file: Path | None = None,
    max_parallel: int | None = None,
    dry_run: bool = False,
    state_dir: Path = DEFAULT_STATE_DIR,
    history: Path | None = None,
    audit_log: Path | None = None,
    report: Path | None = None,
    junit: Path | None = None,
    output: str = "text",
    no_progress: bool = False,
    approve: Sequence[str] = (),
    auto_approve: bool = False,
    executor: str | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    force_all: bool = False,
    force_run: Sequence[str] = (),
    watch: bool = False,
    keep_going: bool = False,
    show_output: str | None = None,
    quiet: bool = False,
    html_report: Path | None = None,
) -> int:
    """Run (or with `dry_run`, plan) the workflow in `spec`; returns the exit code.

    User errors raise FlowctlError subclasses (the CLI prints them, exit 2). The exit code
    of a run is its status's: 0 completed, 1 failed, 3 timed out, 4 waiting for approval,
    130 interrupted.
    """
    from flowctl.commands.input_args import load_inputs_file, parse_input_args
    from flowctl.runner.executors.choose import checked_choice
    from flowctl.runner.inputs import resolve_inputs
    from flowctl.runner.options import RunOptions
    from flowctl.runner.prepare import check_approvals, secrets_masker
    from flowctl.spec.load import load_workflow

    if output not in OUTPUT_FORMATS:
        raise UsageError(f"--output must be one of {', '.join(OUTPUT_FORMATS)}, got {output!r}")
    if max_parallel is not None and max_parallel < 1:
        raise UsageError(f"--max-parallel must be at least 1, got {max_parallel}")
    given: dict[str, Any] = {}
    if inputs_file is not None:
        given.update(load_inputs_file(inputs_file))
    given.update(parse_input_args(inputs))  # the command line wins over the file
    from flowctl.state.checked import CheckedSpecFiles

    checked = CheckedSpecFiles(state_dir)
    wf = load_workflow(spec, checked=checked)
    check_approvals(wf, approve)
    choice = checked_choice(wf, executor=executor, scheduler=scheduler, workers=workers)
    options = RunOptions.of(
        state_dir=state_dir,
        history=history,
        max_parallel=max_parallel,
        handle_signals=True,
        approve=approve,
        auto_approve=auto_approve,
        executor=choice,
        force_all=force_all,
        force_run=force_run,
        keep_going=keep_going,
    )
    view = _View(
        output=output,
        no_progress=no_progress,
        show_output=show_output,
        quiet=quiet,
        audit_log=audit_log,
        report=report,
        junit=junit,
        html_report=html_report,
    )
    if watch and dry_run:
        raise UsageError("--watch and --dry-run cannot be used together")
    if watch:
        from flowctl.commands.watch import watch_runs

        def once(first: bool) -> int:
            # Forcing applies to the first run only; a rerun runs what its change touched.
            again = options if first else replace(options, force_all=False, force_run=())
            return _run(wf if first else load_workflow(spec, checked=checked), given, again, view)

        return watch_runs(spec, once, state_dir=state_dir)
    if dry_run:
        # Nothing to check against the step registry: the built-in one runs every type.
        _masker = secrets_masker(wf)  # alive while inputs resolve: their errors are masked
        resolve_inputs(wf, given)
        return _dry_run(
            wf,
            max_parallel,
            history or state_dir / "history.jsonl",
            output,
            files=_dry_run_files(wf, given, state_dir, force_all, force_run),
        )
    return _run(wf, given, options, view)


def interactive_terminal() -> bool:
    """Ask approvals on the terminal only when a person is there: stdin and stdout are
    terminals and this is not a CI job."""
    if os.environ.get("CI", "").strip().lower() == "true":
        return False
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


class _View(Struct, frozen=True, kw_only=True):
    """How `run` shows a run and where it copies its files afterwards."""

    output: str
    no_progress: bool
    show_output: str | None
    quiet: bool
    audit_log: Path | None
    report: Path | None
    junit: Path | None
    html_report: Path | None


def _run(wf: Workflow, given: Mapping[str, Any], options: RunOptions, view: _View) -> int:
    from flowctl.launch import settle
    from flowctl.runner.session import run_sync

    settle()
    result, console, shown = watched(
        lambda observers, interactive: run_sync(
            wf, given, replace(options, observers=tuple(observers), interactive=interactive)
        ),
        no_progress=view.no_progress,
        output=view.output,
        show_output=view.show_output,
        quiet=view.quiet,
        workflow=wf,
    )
    return present(
        result,
        console,
        output=view.output,
        audit_log=view.audit_log,
        report=view.report,
        junit=view.junit,
        shown=shown,
        workflow=wf,
        html_report=view.html_report,
    )


def watched(
    execute: Callable[[list[RunObserver], bool], RunResult],
    *,
    no_progress: bool,
    output: str,
    show_output: str | None = None,
    quiet: bool = False,
    workflow: Workflow | None = None,
    loop_labels: Mapping[str, Sequence[str]] | None = None,
) -> tuple[RunResult, Output, ConsolePlan]:
    """Run `execute(observers, interactive)` under the progress view that fits the terminal,
    with the steps' output blocks (`--show-output`) and CI annotations beside it.

    With --output json stdout is for the report only; people read stderr. `loop_labels`
    are the labels an earlier session of a resumed run gave its loops' iterations. Off a
    terminal (CI, a pipe) the console is a PlainOut and the run loads no Rich.
    """
    from flowctl.progress import ProgressObserver, choose_progress, is_live
    from flowctl.progress.console_plan import plan_console
    from flowctl.progress.labels import LoopLabels, labelling
    from flowctl.progress.quiet import QuietProgress
    from flowctl.textout import make_output

    console = make_output(stderr=output == "json")
    progress: ProgressObserver = QuietProgress() if quiet else choose_progress(no_progress, console)
    shown = plan_console(
        console,
        show_output=show_output,
        quiet=quiet,
        live=is_live(progress),
        workflow=workflow,
    )
    try:
        # Views name loop iterations by label; the journal keeps index-based ids.
        views = labelling([progress, shown], LoopLabels(loop_labels))
        result = execute(views, interactive_terminal())
    finally:
        progress.close()
        shown.close()
    return result, console, shown


def present(
    result: RunResult,
    console: Output,
    *,
    output: str,
    audit_log: Path | None = None,
    report: Path | None = None,
    junit: Path | None = None,
    shown: ConsolePlan | None = None,
    workflow: Workflow | None = None,
    html_report: Path | None = None,
) -> int:
    """After a run or a resume: extra copies of its files, then the report or the summary
    (cause first, then the tails of failed steps' logs); returns the exit code."""
    from flowctl.progress import print_failure_tails
    from flowctl.progress.labels import labelled_result

    paths = result.paths
    # Loop iterations by label in the summary, the tails, JUnit and the CI summary.
    result = labelled_result(result)
    if paths is not None:
        if audit_log is not None:
            _copy(paths.audit, audit_log, "--audit-log")
        if report is not None:
            _copy(paths.report, report, "--report")
    if html_report is not None and paths is not None and paths.report.is_file():
        from flowctl.report.html import write_html_report

        write_html_report(paths.run_dir, html_report, history=result.history_path)
    if junit is not None:
        from flowctl.junit import failed_attempts, step_reports, write_junit

        retries = failed_attempts(paths.audit) if paths is not None else {}
        reports = step_reports(result.steps.values(), retries=retries)
        write_junit(junit, result.run_id, result.workflow, reports)
    if output == "json":
        _print_report(result)
    else:
        print_summary(result, console)
        if not result.ok and (shown is None or shown.wants_tails()):
            print_failure_tails(
                [
                    r
                    for r in result.steps.values()
                    if r.status is StepStatus.FAILED and not r.handled
                ],
                console,
                root_cause=result.root_cause,
            )
    if shown is not None:
        from flowctl.progress.console_plan import finish_console

        finish_console(shown, result, workflow)
    return int(result.exit_code)


def _copy(source: Path, target: Path, option: str) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        import shutil  # here: it imports zlib, bz2 and lzma, which a plain run never uses

        shutil.copyfile(source, target)
    except OSError as exc:
        raise StateError(f"{option}: cannot write {target}: {exc.strerror or exc}") from exc


def _print_report(result: RunResult) -> None:
    """`--output json`: report.json (already masked) on stdout, with `process_duration`,
    the process's wall time from launch, beside the run's own `duration`."""
    from flowctl.launch import process_seconds
    from flowctl.runner.record.report import report_text

    if result.report_path is not None and result.report_path.is_file():
        text = result.report_path.read_text(encoding="utf-8")
        try:
            report = json.loads(text)
        except ValueError:
            report = None
        if isinstance(report, dict):
            total = round(max(process_seconds(), result.duration), 6)
            with_total: dict[str, Any] = {}
            for key, value in report.items():
                with_total[key] = value
                if key == "duration":
                    with_total["process_duration"] = total
            with_total.setdefault("process_duration", total)
            text = report_text(with_total)
        sys.stdout.write(text)
    sys.stdout.flush()


def _ids(results: Sequence[StepResult]) -> str:
    shown = ", ".join(r.id for r in results[:_LIST_LIMIT])
    more = len(results) - _LIST_LIMIT
    return f"{shown} (+{more} more)" if more > 0 else shown


_MARKS = {
    RunStatus.COMPLETED: ("✓", "green"),
    RunStatus.FAILED: ("✗", "red"),
    RunStatus.TIMEOUT: ("⏱", "red"),
    RunStatus.CANCELLED: ("■", "yellow"),
    RunStatus.WAITING_APPROVAL: ("⏸", "magenta"),
}


def _state_option(result: RunResult) -> str:
    """` --state-dir D` when the run's state is not in the default place."""
    paths = result.paths
    if paths is None or paths.state_dir == DEFAULT_STATE_DIR:
        return ""
    return f" --state-dir {shlex.quote(str(paths.state_dir))}"


def _approval_lines(result: RunResult) -> list[tuple[str, str]]:
    state = _state_option(result)
    lines = [(f"  waiting for approval: {_ids_text(list(result.waiting))}", "magenta")]
    for step in result.waiting[:_LIST_LIMIT]:
        lines.append(
            (
                f"  approve: flowctl approve {result.run_id} {shlex.quote(step)}{state} "
                "(or --reject)",
                "",
            )
        )
    lines.append((f"  then:    flowctl resume {result.run_id}{state}", ""))
    return lines


def _ids_text(ids: list[str]) -> str:
    shown = ", ".join(ids[:_LIST_LIMIT])
    more = len(ids) - _LIST_LIMIT
    return f"{shown} (+{more} more)" if more > 0 else shown


def summary_lines(result: RunResult, *, total: float | None = None) -> list[tuple[str, str]]:
    """The end-of-run summary as (text, style) lines: the root cause before its cascade.

    `total` is the process's wall time so far (start-up and loading included), printed
    beside the run's own duration.
    """
    from flowctl.durations import format_duration

    mark, style = _MARKS.get(result.status, ("•", ""))
    steps = list(result.steps.values())
    by_status: dict[StepStatus, list[StepResult]] = {}
    for r in steps:
        by_status.setdefault(r.status, []).append(r)
    counts = ", ".join(
        f"{len(v)} {k.value}" + (_not_run(v) if k is StepStatus.COMPLETED else "")
        for k, v in by_status.items()
    )
    took = format_duration(result.duration)
    if total is not None:
        took += f", total {format_duration(max(total, result.duration))}"
    if counts:
        # Step runs, not steps: each loop item's children count once per item.
        runs = f"{len(steps)} step run" + ("" if len(steps) == 1 else "s")
        counts = f"{runs}: {counts}"
    head = (
        f"{mark} {result.workflow} {result.status.value} in {took} "
        f"(run {result.run_id}): {counts or 'no steps'}"
    )
    lines = [(head, f"bold {style}".strip())]
    failed = by_status.get(StepStatus.FAILED, [])
    handled = [r for r in failed if r.handled]
    if handled:
        lines.append((f"  handled by error handlers: {_ids(handled)}", "yellow"))
    if result.status is RunStatus.COMPLETED:
        tolerated = [r for r in failed if not r.handled]
        if tolerated:
            lines.append((f"  tolerated failures: {_ids(tolerated)}", "yellow"))
        return lines
    if result.status is RunStatus.WAITING_APPROVAL:
        lines.extend(_approval_lines(result))
        return lines
    if len(result.failures) > 1:
        # Independent failures under --keep-going: each one, none more the cause than another.
        lines.append((f"  {len(result.failures)} independent failures:", "red"))
        lines.extend(_each_failure(result))
    elif result.error:
        label = "root cause" if result.root_cause else "reason"
        lines.append((f"  {label}: {result.error}", "red"))
    if not result.failures:
        others = [r for r in failed if r.id != result.root_cause and not r.handled]
        if others:
            lines.append((f"  also failed: {_ids(others)}", "red"))
    if StepStatus.ROLLED_BACK in by_status:
        undone = by_status[StepStatus.ROLLED_BACK]
        lines.append((f"  rolled back: {_ids(undone)}", "magenta"))
    if result.rollback_failed:
        count = result.rollback_failed
        noun = "action" if count == 1 else "actions"
        lines.append(
            (f"  rollback: {count} {noun} failed (see rollback_action in the audit log)", "red")
        )
    if StepStatus.CANCELLED in by_status:
        lines.append((f"  cancelled: {_ids(by_status[StepStatus.CANCELLED])}", "yellow"))
    if StepStatus.SKIPPED in by_status:
        lines.append((f"  skipped: {_ids(by_status[StepStatus.SKIPPED])}", "dim"))
    if result.paths is not None:
        lines.append((f"  audit log: {result.paths.audit}", "dim"))
    return lines


def _not_run(completed: Sequence[StepResult]) -> str:
    """How many completed steps did not have to run, as " (30 up to date, 2 cached)"."""
    fresh = sum(1 for r in completed if r.up_to_date)
    cached = sum(1 for r in completed if r.cached)
    parts = [f"{fresh} up to date"] * bool(fresh) + [f"{cached} cached"] * bool(cached)
    return f" ({', '.join(parts)})" if parts else ""


def _each_failure(result: RunResult) -> list[tuple[str, str]]:
    """Every failure under --keep-going, each once with its error (a failed container is
    named by its failing children, not again itself)."""
    lines = []
    failures = [qid for qid in result.failures if qid in result.steps]
    for qid in failures[:_LIST_LIMIT]:
        error = result.steps[qid].error
        lines.append((f"    step '{qid}' failed" + (f": {error}" if error else ""), "red"))
    if len(failures) > _LIST_LIMIT:
        lines.append((f"    and {len(failures) - _LIST_LIMIT} more failed steps", "red"))
    return lines


def print_summary(result: RunResult, console: Output) -> None:
    from flowctl.launch import process_seconds
    from flowctl.textout import text_out

    out = text_out(console)
    for text, style in summary_lines(result, total=process_seconds()):
        out.say(text, style)


def _dry_run_files(
    wf: Workflow,
    given: Mapping[str, Any],
    state_dir: Path,
    force_all: bool,
    force_run: Sequence[str],
) -> dict[str, str]:
    """Whether each step with sources/generates is up to date, and if not why."""
    from flowctl.files.dryrun import file_verdicts
    from flowctl.runner.filesteps import forced_steps, has_files
    from flowctl.runner.inputs import resolve_inputs

    if force_run:
        forced_steps(wf, force_run)  # a wrong name is an error even without file steps
    if not any(has_files(step) for step, _ in wf.walk()):
        return {}
    return file_verdicts(
        wf,
        resolve_inputs(wf, given),
        state_dir=state_dir,
        workdir=Path.cwd(),
        force_all=force_all,
        force_run=force_run,
    )


def _dry_run(
    wf: Workflow,
    max_parallel: int | None,
    history: Path,
    output: str,
    *,
    files: Mapping[str, str] | None = None,
) -> int:
    from flowctl.durations import format_duration
    from flowctl.runner.plan import PlannedStep, make_plan
    from flowctl.textout import line_printer

    files = files or {}
    plan = make_plan(wf, max_parallel=max_parallel or wf.max_parallel_steps, history=history)
    if output == "json":
        data = plan.to_json()
        if files:
            data["files"] = dict(files)
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return int(ExitCode.OK)
    say = line_printer()

    say(
        f"plan for {plan.workflow} ({plan.source}): {plan.step_count} steps in "
        f"{len(plan.levels)} levels, max_parallel_steps {plan.max_parallel}; nothing was run",
        "bold",
    )

    def show(step: PlannedStep, indent: str) -> None:
        after = f"  (after {', '.join(step.dependencies)})" if step.dependencies else ""
        say(f"{indent}{step.id} [{step.type}] {step.does}{after}")
        if step.id in files:
            fresh = files[step.id] == "up to date"
            say(f"{indent}    files: {files[step.id]}", "green" if fresh else "yellow")
        for child in step.children:
            show(child, indent + "    ")

    for number, level in enumerate(plan.levels, start=1):
        say(f"level {number}:", "cyan")
        for step in level:
            show(step, "  ")
    if plan.estimate is None:
        say("estimated duration: unknown (no completed run in the history yet)", "dim")
    else:
        est = plan.estimate
        say(
            f"estimated duration: {format_duration(est.duration)} along the critical path "
            f"{' -> '.join(est.critical_path)} (medians of the last {est.runs} completed runs in "
            f"{est.history})"
        )
    return int(ExitCode.OK)
