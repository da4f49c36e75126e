"""GitHub Actions: workflow-command annotations, `::add-mask::`, and the job's step summary.

See https://docs.github.com/actions/reference/workflow-commands-for-github-actions.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO

from flowctl.errors import Location
from flowctl.progress.ansi import clean_output
from flowctl.progress.format import format_duration
from flowctl.progress.tails import read_log_tail
from flowctl.runner.events import RunEvent, StepFinished
from flowctl.runner.results import RunResult, StepResult
from flowctl.spec.model import Workflow
from flowctl.status import RunStatus, StepStatus

# GitHub refuses a step summary over 1 MiB; stay clear of it.
SUMMARY_LIMIT = 1024 * 1024 - 16 * 1024
TABLE_ROWS = 300
GANTT_TASKS = 150
TAIL_LINES = 30
FAILURES_SHOWN = 10

_MARKS = {
    StepStatus.COMPLETED: "✅",
    StepStatus.FAILED: "❌",
    StepStatus.SKIPPED: "⏭️",
    StepStatus.CANCELLED: "⊘",
    StepStatus.ROLLED_BACK: "↩️",
    StepStatus.WAITING: "⏸️",
}
_CONTAINERS = frozenset({"loop", "parallel"})
_RUN_MARKS = {RunStatus.COMPLETED: "✅", RunStatus.WAITING_APPROVAL: "⏸️"}


def escape_data(text: str) -> str:
    """A workflow command's message: `%`, CR and LF escaped as the runner expects."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: also `:` and `,`."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(
    level: str, message: str, *, location: Location | None = None, title: str | None = None
) -> str:
    """`::error file=F,line=L,col=C,title=T::message` (level: error, warning or notice)."""
    props = []
    if location is not None:
        props += [
            f"file={escape_property(workspace_path(location.file))}",
            f"line={location.line}",
            f"col={location.col}",
        ]
    if title:
        props.append(f"title={escape_property(title)}")
    joined = f" {','.join(props)}" if props else ""
    return f"::{level}{joined}::{escape_data(message)}\n"


def workspace_path(file: str) -> str:
    """`file` relative to the checkout ($GITHUB_WORKSPACE, else the current directory), as
    annotations need it; unchanged when it lies outside."""
    base = os.environ.get("GITHUB_WORKSPACE") or Path.cwd()
    try:
        return Path(file).resolve().relative_to(Path(base).resolve()).as_posix()
    except (ValueError, OSError):
        return file


def add_mask_commands(values: Iterable[str]) -> str:
    """`::add-mask::` for every secret, and for its base64 and URL-encoded spellings, one
    line each: the runner then masks them in every log line, other tools' included. The one
    place flowctl writes a raw secret, and only here."""
    import base64
    from urllib.parse import quote

    out = []
    seen: set[str] = set()
    for value in values:
        encoded = base64.b64encode(value.encode("utf-8")).decode("ascii")
        for form in (value, encoded, quote(value, safe="")):
            for line in form.splitlines():
                if line.strip() and line not in seen:
                    seen.add(line)
                    out.append(f"::add-mask::{line}\n")
    return "".join(out)


def step_locations(wf: Workflow) -> dict[str, Location]:
    """Each step id (loop children by their own id) -> where it is in the file."""
    return {step.id: step.location for step, _ in wf.walk()}


def local_id(qid: str) -> str:
    """`tests[3].test` -> `test`."""
    return qid.rsplit("].", 1)[-1] if "]." in qid else qid.rsplit(".", 1)[-1]


class GitHubAnnotations:
    """An observer: an `::error` annotation at a step's line in the spec when it fails."""

    def __init__(self, stream: IO[str], wf: Workflow) -> None:
        self.stream = stream
        self._locations = step_locations(wf)

    def handle(self, event: RunEvent) -> None:
        if not isinstance(event, StepFinished) or event.restored:
            return
        if event.status is not StepStatus.FAILED or event.step_type in _CONTAINERS:
            return  # a failed container's children have their own annotations
        level = "warning" if event.handled else "error"
        what = "failed (handled by its error handlers)" if event.handled else "failed"
        line = annotation(
            level,
            event.error or "failed",
            location=self._locations.get(local_id(event.step)),
            title=f"flowctl: step {event.step} {what}",
        )
        try:
            self.stream.write(line)
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        """Nothing is held back."""


# -- the step summary -------------------------------------------------------------------------


def step_summary(result: RunResult, wf: Workflow) -> str:
    """The run as Markdown for $GITHUB_STEP_SUMMARY, under GitHub's 1 MiB limit.

    A status table, the failures with their log tails, the critical path and a Mermaid
    `gantt` timeline. A large run is summarised: the longest steps first, the table and
    the chart cut with a line saying how many were left out.
    """
    rows, tasks, tail = TABLE_ROWS, GANTT_TASKS, TAIL_LINES
    while True:
        text = _summary(result, wf, rows=rows, tasks=tasks, tail=tail)
        if len(text.encode("utf-8")) <= SUMMARY_LIMIT or rows <= 1:
            return text
        rows, tasks, tail = rows // 2, tasks // 2, max(tail // 2, 1)


def _summary(result: RunResult, wf: Workflow, *, rows: int, tasks: int, tail: int) -> str:
    steps = list(result.steps.values())
    mark = _RUN_MARKS.get(result.status, "❌")
    counts: dict[str, int] = {}
    for r in steps:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    in_file = sum(1 for _ in wf.walk())
    out = [
        f"## {mark} {_md(result.workflow)}: {result.status.value} in "
        f"{format_duration(result.duration)}",
        "",
        f"Run `{result.run_id}`: {len(steps)} step runs including loop items "
        f"({in_file} steps in the file): "
        + ", ".join(f"{n} {status}" for status, n in counts.items()),
        "",
    ]
    out += _failures(result, tail)
    out += _table(steps, rows)
    out += _critical_path(result, wf)
    out += _gantt(result, tasks)
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    """Text in a Markdown table cell or heading: no pipes, no line breaks, no HTML."""
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in `text`."""
    longest, run = 0, 0
    for c in text:
        run = run + 1 if c == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def _failures(result: RunResult, tail: int) -> list[str]:
    failed = [result.steps[q] for q in result.failures if q in result.steps]
    if not failed:
        failed = [r for r in result.steps.values() if r.status is StepStatus.FAILED]
    if not failed:
        return []
    out = ["### Failures", ""]
    for r in failed[:FAILURES_SHOWN]:
        out.append(f"**`{_md(r.id)}`**: {_md(r.error or 'failed')}")
        out.append("")
        text = read_log_tail(r.log_path, tail) if r.log_path is not None else ""
        text = clean_output(text, keep_sgr=False).strip("\n")
        if text.strip():
            fence = _fence(text)
            count = len(text.splitlines())
            last = "the last line" if count == 1 else f"the last {count} lines"
            out += [
                f"<details open><summary>{last} of its log</summary>",
                "",
                f"{fence}text",
                text,
                fence,
                "",
                "</details>",
                "",
            ]
    if len(failed) > FAILURES_SHOWN:
        out += [f"… and {len(failed) - FAILURES_SHOWN} more failed steps.", ""]
    return out


def _table(steps: Sequence[StepResult], rows: int) -> list[str]:
    shown = list(steps)
    note = []
    if len(shown) > rows:
        shown = sorted(shown, key=lambda r: -r.duration)[:rows]
        note = [f"The {rows} longest of {len(steps)} step runs; `flowctl runs show` has all.", ""]
    out = [
        "### Steps",
        "",
        *note,
        "| | step | status | duration | attempts |",
        "|---|---|---|---|---|",
    ]
    for r in shown:
        status = (
            r.status.value
            + (" (cached)" if r.cached else "")
            + (" (restored)" if r.restored else "")
        )
        out.append(
            f"| {_MARKS.get(r.status, '')} | `{_md(r.id)}` | {status} | "
            f"{format_duration(r.duration) if r.attempts else ''} | {r.attempts or ''} |"
        )
    return [*out, ""]


def _critical_path(result: RunResult, wf: Workflow) -> list[str]:
    from flowctl.graph.algorithms import critical_path

    durations: Mapping[str, float] = {
        s.id: result.steps[s.id].duration for s in wf.steps if s.id in result.steps
    }
    try:
        path, _ = critical_path(wf.steps, durations)
    except Exception:  # a cycle cannot reach a run; say nothing rather than fail the job
        return []
    path = [s for s in path if (r := result.steps.get(s)) is not None and r.attempts]
    if not path:
        return []
    chain = " → ".join(
        f"`{_md(step)}` ({format_duration(durations.get(step, 0.0))})" for step in path
    )
    total = sum(durations[step] for step in path)
    return ["### Critical path", "", f"{chain}: {format_duration(total)} in all", ""]


def _gantt(result: RunResult, tasks: int) -> list[str]:
    ran = [r for r in result.steps.values() if r.started_at is not None and r.finished_at]
    if not ran:
        return []
    note = []
    if len(ran) > tasks:
        keep = {id(r) for r in sorted(ran, key=lambda r: -r.duration)[:tasks]}
        note = [f"The {tasks} longest of {len(ran)} steps that ran.", ""]
        ran = [r for r in ran if id(r) in keep]
    ran.sort(key=lambda r: r.started_at or 0.0)
    lines = [
        "### Timeline",
        "",
        *note,
        "```mermaid",
        "gantt",
        "    dateFormat x",
        "    axisFormat %M:%S",
        f"    title {_task_name(result.workflow)}",
    ]
    for n, r in enumerate(ran):
        assert r.started_at is not None and r.finished_at is not None
        start = int(r.started_at * 1000)
        end = max(int(r.finished_at * 1000), start + 1)
        tag = {StepStatus.FAILED: "crit, ", StepStatus.COMPLETED: "done, "}.get(r.status, "")
        lines.append(f"    {_task_name(r.id)} :{tag}t{n}, {start}, {end}")
    return [*lines, "```", ""]


def _task_name(text: str) -> str:
    """A Mermaid gantt task name: no `:`, `;` or `#`, which end or break a task line."""
    return "".join(" " if c in ":;#\r\n" else c for c in text).strip() or "step"


def append_step_summary(path: Path, text: str) -> None:
    """Append to $GITHUB_STEP_SUMMARY (other steps of the job write there too)."""
    with path.open("a", encoding="utf-8") as f:
        f.write(text)
