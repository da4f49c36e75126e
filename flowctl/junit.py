"""JUnit XML for CI: one testcase per step, failures and skips marked (`run --junit F`).

The file follows the Ant/Jenkins `junit-10.xsd` (the tests validate it against a copy):
counts of skipped tests only on <testsuite>, facts about a step (agent, cache, up to
date) in its <system-out>, and the failed attempts of a retried step as <rerunFailure>
(it failed in the end) or <flakyFailure> (a later attempt passed), as Maven Surefire
writes reruns.
"""

from __future__ import annotations

import os
import re
import tempfile
import xml.etree.ElementTree as ET  # only builds and writes XML; never parses input
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from msgspec import Struct

from flowctl.errors import UsageError
from flowctl.progress.tails import TAIL_LINES, read_log_tail
from flowctl.runner.events import StepFinished
from flowctl.runner.results import StepResult
from flowctl.status import StepStatus

# Characters XML 1.0 cannot carry at all, even escaped; ElementTree would write them raw
# and produce a file no CI server can parse.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MESSAGE_LIMIT = 500


class StepReport(Struct, frozen=True, kw_only=True):
    """What a CI server needs to know about one step."""

    id: str
    status: StepStatus
    duration: float
    error: str | None = None
    log_tail: str = ""
    reason: str | None = None  # why it was skipped or cancelled
    agent: str | None = None  # the agent of its last attempt (agent_capability steps)
    up_to_date: bool = False  # passed without running: its files had not changed
    cached: bool = False  # passed without running: its outputs came from the step cache
    retries: tuple[str, ...] = ()  # the errors of the attempts that failed before the last


_UNFINISHED = {
    StepStatus.SKIPPED: "skipped",
    StepStatus.PENDING: "never started",
    StepStatus.WAITING: "waiting for approval",
    StepStatus.RUNNING: "did not finish",
    StepStatus.RETRYING: "did not finish",
    StepStatus.CANCELLED: "cancelled",
}


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _first_line(text: str) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    from flowctl.secrets import clip

    return clip(line, _MESSAGE_LIMIT, marker="…")


def _testcase(suite: ET.Element, workflow: str, step: StepReport) -> str | None:
    """Add the step's testcase; return its outcome: "failure", "skipped" or None (passed)."""
    case = ET.SubElement(
        suite,
        "testcase",
        name=_xml_text(step.id),
        classname=_xml_text(workflow),
        time=f"{max(step.duration, 0.0):.3f}",
    )
    outcome: str | None = None
    if step.status is StepStatus.FAILED:
        error = step.error or "step failed"
        body = error if not step.log_tail else f"{error}\n\nlast lines of the log:\n{step.log_tail}"
        failure = ET.SubElement(
            case, "failure", message=_xml_text(_first_line(error)), type="StepFailed"
        )
        failure.text = _xml_text(body)
        outcome = "failure"
        _attempts(case, "rerunFailure", step.retries)
    elif step.status is not StepStatus.COMPLETED and step.status is not StepStatus.ROLLED_BACK:
        why = step.reason or step.error
        message = f"{step.status.value}: {why}" if why else _UNFINISHED[step.status]
        ET.SubElement(case, "skipped", message=_xml_text(_first_line(message)))
        outcome = "skipped"
    if step.status is StepStatus.COMPLETED:
        _attempts(case, "flakyFailure", step.retries)
    notes = []
    if step.agent is not None:
        notes.append(f"agent: {step.agent}")
    if step.retries:
        notes.append(f"attempts: {len(step.retries) + 1}")
    if step.cached:
        notes.append("cached: not run, its outputs came from the step cache")
    if step.status is StepStatus.ROLLED_BACK:
        # It did its work, which the saga then undid: a pass, but say so.
        notes.append("completed, then rolled back after the run failed")
    if step.up_to_date:
        notes.append("up to date: not run, its sources and definition had not changed")
    if step.log_tail and step.status is not StepStatus.FAILED:
        notes.append(step.log_tail)
    if notes:
        ET.SubElement(case, "system-out").text = _xml_text("\n".join(notes))
    return outcome


def _attempts(case: ET.Element, tag: str, errors: Sequence[str]) -> None:
    """One element per failed earlier attempt (Surefire's rerun elements)."""
    for number, error in enumerate(errors, start=1):
        rerun = ET.SubElement(
            case,
            tag,
            message=_xml_text(_first_line(f"attempt {number}: {error}")),
            type="StepFailed",
        )
        rerun.text = _xml_text(error)


def build_junit(run_id: str, workflow: str, steps: Sequence[StepReport]) -> ET.ElementTree:
    """The JUnit document: <testsuites> with one <testsuite> named after the workflow."""
    root = ET.Element("testsuites", name="flowctl")
    suite = ET.SubElement(root, "testsuite", name=_xml_text(workflow), id=_xml_text(run_id))
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="run_id", value=_xml_text(run_id))
    failures = skipped = 0
    for step in steps:
        outcome = _testcase(suite, workflow, step)
        failures += outcome == "failure"
        skipped += outcome == "skipped"
    total_time = f"{sum(max(s.duration, 0.0) for s in steps):.3f}"
    for element in (root, suite):
        element.set("tests", str(len(steps)))
        element.set("failures", str(failures))
        element.set("errors", "0")
        element.set("time", total_time)
    suite.set("skipped", str(skipped))  # the XSD has no `skipped` on <testsuites>
    return ET.ElementTree(root)


def write_junit(path: Path, run_id: str, workflow: str, steps: Sequence[StepReport]) -> None:
    """Write the report atomically (a reader never sees half a file); UsageError if it can't."""
    tree = build_junit(run_id, workflow, steps)
    ET.indent(tree)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                tree.write(f, encoding="utf-8", xml_declaration=True)
                f.write(b"\n")
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise UsageError(f"cannot write the JUnit report {path}: {exc.strerror or exc}") from exc


def step_reports(
    items: Iterable[StepFinished | StepResult],
    *,
    tail_lines: int = TAIL_LINES,
    retries: Mapping[str, Sequence[str]] | None = None,
) -> list[StepReport]:
    """StepReports from StepFinished events or a RunResult's step results.

    The last finish of each step counts (a step rolled back after it completed is
    reported as rolled back); failed steps get the tail of their log. `retries` are the
    errors of each step's failed earlier attempts (failed_attempts), by the same ids.
    """
    last: dict[str, StepFinished | StepResult] = {}
    agents: dict[str, str] = {}
    for item in items:
        step = item.step if isinstance(item, StepFinished) else item.id
        last.pop(step, None)  # re-inserted: the order is that of the last finish
        last[step] = item
        if item.agent is not None:  # a rollback finish does not say which agent ran it
            agents[step] = item.agent
    reports = []
    for step, item in last.items():
        tail = ""
        if item.status is StepStatus.FAILED and item.log_path:
            tail = read_log_tail(Path(item.log_path), tail_lines)
        reports.append(
            StepReport(
                id=step,
                status=item.status,
                duration=item.duration,
                error=item.error,
                log_tail=tail,
                reason=item.reason,
                agent=agents.get(step),
                up_to_date=item.up_to_date,
                cached=item.cached,
                retries=tuple((retries or {}).get(step, ())),
            )
        )
    return reports


def failed_attempts(audit: Path) -> dict[str, tuple[str, ...]]:
    """The errors of each step's retried attempts in its last session, from the run's
    journal, keyed by the ids views show (loop iterations by label); none if unreadable.

    A step started again from attempt 1 (a resumed run) starts its list again.
    """
    from flowctl.errors import StateError
    from flowctl.runner.looplabels import labelled, labels_from_journal
    from flowctl.state.audit import read_journal

    try:
        events = read_journal(audit).events
    except StateError:
        return {}
    found: dict[str, list[str]] = {}
    for event in events:
        if event.step is None:
            continue
        if event.event == "step_started" and event.attempt in (None, 1):
            found.pop(event.step, None)
        elif event.event == "step_retrying":
            error = event.data.get("error")
            found.setdefault(event.step, []).append(error if isinstance(error, str) else "")
    labels = labels_from_journal(events)
    return {labelled(step, labels): tuple(errors) for step, errors in found.items()}


def reports_from_run_report(
    report: Mapping[str, Any], *, tail_lines: int = TAIL_LINES, audit: Path | None = None
) -> list[StepReport]:
    """StepReports from a finished run's report.json (`resume` of a run that had already
    completed writes its JUnit file from it): loop items by label, failed steps with the
    tail of their log, retried attempts from the journal at `audit`."""
    retries = failed_attempts(audit) if audit is not None else {}
    reports = []
    for entry in report.get("steps") or ():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str):
            continue
        try:
            status = StepStatus(str(entry.get("status")))
        except ValueError:
            continue
        label = entry.get("label")
        name: str = label if isinstance(label, str) and label else entry["id"]
        log = entry.get("log")
        tail = ""
        if status is StepStatus.FAILED and isinstance(log, str) and log:
            tail = read_log_tail(Path(log), tail_lines)
        reports.append(
            StepReport(
                id=name,
                status=status,
                duration=_number(entry.get("duration")),
                error=_text_or_none(entry.get("error")),
                log_tail=tail,
                reason=_text_or_none(entry.get("reason")),
                agent=_text_or_none(entry.get("agent")),
                up_to_date=entry.get("up_to_date") is True,
                cached=entry.get("cached") is True,
                retries=tuple(retries.get(name, ())),
            )
        )
    return reports


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
