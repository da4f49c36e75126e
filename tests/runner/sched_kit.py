"""Test kit for scheduler tests: write a spec, run it (API or CLI), read what it left."""

from __future__ import annotations

import json
import subprocess
import textwrap
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flowctl.api import RunResult, run_workflow
from flowctl.state.audit import AuditEvent, read_journal
from tests.cli import REPO as REPO  # re-exported: tests written before tests.cli import it here
from tests.cli import cli_env, run_flowctl
from tests.cli import python_path as python_path

FUNCS = "tests.runner.sched_funcs"


def spec_text(text: str) -> str:
    return textwrap.dedent(text).lstrip()


def write_spec(tmp_path: Path, text: str, name: str = "wf.yaml") -> Path:
    path = tmp_path / name
    path.write_text(spec_text(text))
    return path


def run_spec(tmp_path: Path, text: str, **options: Any) -> RunResult:
    """Run a spec through the Python API with its state under tmp_path/.flowctl."""
    options.setdefault("state_dir", tmp_path / ".flowctl")
    options.setdefault("durable", False)
    return run_workflow(write_spec(tmp_path, text), **options)


def events(result: RunResult) -> list[AuditEvent]:
    assert result.paths is not None
    contents = read_journal(result.paths.audit)
    assert not contents.torn_tail and not contents.bad_lines
    return contents.events


def ts(event: AuditEvent) -> float:
    return datetime.fromisoformat(event.ts.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class Span:
    """When a step ran according to the audit log (first start to final event)."""

    step: str
    start: float
    end: float


def spans(evts: list[AuditEvent]) -> dict[str, Span]:
    starts: dict[str, float] = {}
    out: dict[str, Span] = {}
    for e in evts:
        if e.step is None:
            continue
        if e.event == "step_started":
            starts.setdefault(e.step, ts(e))
        elif e.event in ("step_completed", "step_failed", "step_cancelled") and e.step in starts:
            out[e.step] = Span(e.step, starts[e.step], ts(e))
    return out


LEAF_TYPES = ("action", "webhook", "wait")
_ATTEMPT_ENDS = ("step_completed", "step_failed", "step_cancelled", "step_retrying")


def attempt_spans(evts: list[AuditEvent]) -> list[tuple[float, float]]:
    """(start, end) of every leaf attempt (containers hold no slot), for concurrency checks."""
    open_: dict[str, float] = {}
    out = []
    for e in evts:
        if e.step is None:
            continue
        if e.event == "step_started" and e.data.get("type") in LEAF_TYPES:
            open_[e.step] = ts(e)
        elif e.event in _ATTEMPT_ENDS and e.step in open_:
            out.append((open_.pop(e.step), ts(e)))
    return out


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    points = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = current = 0
    for _, delta in points:
        current += delta
        best = max(best, current)
    return best


def names(evts: list[AuditEvent], event: str) -> list[str]:
    return [e.step for e in evts if e.event == event and e.step is not None]


def run_cli(
    tmp_path: Path,
    text: str | None,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """`python -m flowctl run <spec> --state-dir <tmp>/.flowctl --no-progress ARGS`."""
    spec = [] if text is None else [str(write_spec(tmp_path, text))]
    state = ["--state-dir", str(tmp_path / ".flowctl"), "--no-progress"]
    return run_flowctl(
        "run", *spec, *state, *args, env=cli_env(env, headless=False), timeout=timeout
    )


def cli_report(tmp_path: Path) -> dict[str, Any]:
    """report.json of the only run under tmp_path/.flowctl."""
    runs = list((tmp_path / ".flowctl" / "runs").iterdir())
    assert len(runs) == 1, runs
    return json.loads((runs[0] / "report.json").read_text())


def cli_events(tmp_path: Path) -> list[AuditEvent]:
    runs = list((tmp_path / ".flowctl" / "runs").iterdir())
    assert len(runs) == 1, runs
    return read_journal(runs[0] / "audit.jsonl").events
