"""RunOptions: the one value the CLI, the Python API and resume pass to a run session."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from flowctl.api import RunStatus, run_workflow
from flowctl.runner.events import RunEvent, RunStarted
from flowctl.runner.executors.api import LOCAL
from flowctl.runner.options import RunOptions
from flowctl.runner.session import run_sync
from flowctl.state.paths import DEFAULT_STATE_DIR, HISTORY_FILE

SPEC = """
name: opts
max_parallel_steps: 3
steps:
  - id: hello
    run: echo hi
"""


def _spec(tmp_path: Path) -> Path:
    path = tmp_path / "wf.yaml"
    path.write_text(textwrap.dedent(SPEC), encoding="utf-8")
    return path


class _Seen:
    def __init__(self) -> None:
        self.events: list[RunEvent] = []

    def handle(self, event: RunEvent) -> None:
        self.events.append(event)


def test_of_takes_the_public_functions_loose_types_and_freezes_them() -> None:
    options = RunOptions.of(
        state_dir="state", history="h.jsonl", workdir="w", approve=["a"], force_run=["b"]
    )
    assert options.state_dir == Path("state")
    assert options.history == Path("h.jsonl")
    assert options.workdir == Path("w")
    assert options.approve == ("a",)
    assert options.force_run == ("b",)
    with pytest.raises(AttributeError, match="immutable"):
        options.keep_going = True  # type: ignore[misc]


def test_defaults_are_those_documented_for_run_workflow() -> None:
    options = RunOptions()
    assert options.state_dir == DEFAULT_STATE_DIR
    assert options.max_parallel is None
    assert options.record_history and options.durable and not options.handle_signals
    assert options.executor == LOCAL
    assert options.history_file == DEFAULT_STATE_DIR / HISTORY_FILE


def test_history_file_is_the_given_one_or_none_when_not_recorded(tmp_path: Path) -> None:
    assert RunOptions(history=tmp_path / "h").history_file == tmp_path / "h"
    assert RunOptions(history=tmp_path / "h", record_history=False).history_file is None


def test_run_sync_with_options_runs_as_run_workflow_with_keywords(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    seen = _Seen()
    options = RunOptions(
        state_dir=tmp_path / "a",
        max_parallel=2,
        observers=(seen,),
        workdir=tmp_path,
        durable=False,
    )
    by_options = run_sync(spec, {}, options)
    by_keywords = run_workflow(
        spec, state_dir=tmp_path / "b", max_parallel=2, workdir=tmp_path, durable=False
    )
    assert by_options.status is by_keywords.status is RunStatus.COMPLETED
    assert isinstance(seen.events[0], RunStarted)
    for result in (by_options, by_keywords):
        assert result.paths is not None
        started = json.loads(result.paths.audit.read_text(encoding="utf-8").splitlines()[0])
        assert started["data"]["max_parallel"] == 2
        assert result.history_path is not None and result.history_path.is_file()
    assert by_options.history_path == tmp_path / "a" / HISTORY_FILE


def test_record_history_false_writes_no_history_line(tmp_path: Path) -> None:
    result = run_sync(
        _spec(tmp_path), {}, RunOptions(state_dir=tmp_path / "s", record_history=False)
    )
    assert result.ok
    assert result.history_path is None
    assert not (tmp_path / "s" / HISTORY_FILE).exists()
