"""What a run leaves: audit events, report.json, the history line, logs; secrets masked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowctl.api import RunObserver, RunStatus, StepStatus
from flowctl.errors import ExitCode, InputError, SpecError
from flowctl.runner.events import RunEvent, RunFinished, RunStarted, StepFinished
from flowctl.secrets import SecretTooShortError
from flowctl.state.history import iter_history
from tests.runner.sched_kit import FUNCS, events, run_spec

SECRET = "s3cr3t-Tok3n-value"


def test_the_audit_log_tells_the_whole_run(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: audited
        inputs:
          n: {{type: integer, default: 2}}
        steps:
          - id: one
            python: {FUNCS}:echo
            input_mapping: {{n: inputs.n}}
          - id: off
            python: {FUNCS}:noop
            condition: "false"
          - id: two
            python: {FUNCS}:fail
            dependencies: [one]
        """,
    )
    evts = events(result)
    assert [e.seq for e in evts] == list(range(1, len(evts) + 1))
    assert {e.run_id for e in evts} == {result.run_id}
    assert evts[0].event == "run_started"
    assert evts[0].data["inputs"] == {"n": 2}
    assert evts[0].data["step_ids"] == ["one", "off", "two"]
    assert evts[-1].event == "run_finished"
    assert evts[-1].data["status"] == "failed"
    assert evts[-1].data["error"] == "step 'two' failed: RuntimeError: boom"
    by_step = {(e.event, e.step): e for e in evts if e.step}
    completed = by_step[("step_completed", "one")]
    assert completed.attempt == 1
    assert completed.data["outputs"] == {"n": 2}
    assert completed.data["duration"] >= 0
    assert by_step[("step_skipped", "off")].data["reason"] == "condition is false: false"
    assert by_step[("step_failed", "two")].data["error"] == "RuntimeError: boom"


def test_report_json_summarises_the_run_with_the_sla_check(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: reported
        version: "1.2.0"
        sla_targets: {{max_execution_time: 60, min_success_rate: 0.9}}
        optimization_enabled: false
        steps:
          - id: a
            python: {FUNCS}:noop
          - id: b
            python: {FUNCS}:fail
            continue_on_failure: true
        """,
    )
    assert result.report_path is not None
    report = json.loads(result.report_path.read_text())
    assert report["run_id"] == result.run_id
    assert report["status"] == "completed"
    assert report["exit_code"] == 0
    assert report["workflow_version"] == "1.2.0"
    assert report["counts"]["completed"] == 1 and report["counts"]["failed"] == 1
    assert [s["id"] for s in report["steps"]] == list(result.steps)
    assert report["sla"] == {
        "ok": False,
        "checks": [
            {
                "target": "max_execution_time",
                "limit": 60,
                "actual": report["duration"],
                "ok": True,
            },
            {"target": "min_success_rate", "limit": 0.9, "actual": 0.5, "ok": False},
        ],
    }
    assert report["optimization"] is None
    assert report["optimization_note"] == "optimization_enabled is false"


def test_one_history_line_per_run_with_edges_queue_times_and_hashes(tmp_path: Path) -> None:
    history = tmp_path / "hist.jsonl"
    text = f"""
        name: recorded
        max_parallel_steps: 1
        steps:
          - id: b
            python: {FUNCS}:sleep
            input_mapping: {{seconds: "0.05"}}
          - id: a
            python: {FUNCS}:echo
            input_mapping: {{x: "1"}}
          - id: c
            python: {FUNCS}:noop
            dependencies: [a, b]
        """
    first = run_spec(tmp_path, text, history=history)
    second = run_spec(tmp_path, text, history=history)
    records = list(iter_history(history))
    assert [r.run_id for r in records] == [first.run_id, second.run_id]
    record = records[0]
    assert record.workflow == "recorded"
    assert record.status == "completed"
    assert record.max_parallel_steps == 1
    assert sorted(record.edges) == [("a", "c"), ("b", "c")]
    steps = {s.id: s for s in record.steps}
    again = {s.id: s for s in records[1].steps}
    assert steps["a"].outputs_sha256 == again["a"].outputs_sha256  # same outputs
    assert steps["a"].outputs_sha256 != steps["c"].outputs_sha256
    assert steps["a"].inputs_sha256 is not None
    # c has no input_mapping: empty params say nothing of what it reads, so no hash (the
    # optimizer falls back to the run's inputs rather than calling every run "the same").
    assert steps["c"].inputs_sha256 is None
    assert steps["a"].queued > 0.01  # one slot, taken by b first (file order): a waited
    assert steps["c"].max_attempts == 1 and steps["c"].timeout == 300.0
    assert record.inputs_sha256 is not None


def test_loop_children_are_recorded_with_qualified_ids_and_parent(tmp_path: Path) -> None:
    history = tmp_path / "hist.jsonl"
    run_spec(
        tmp_path,
        f"""
        name: loops
        steps:
          - id: each
            type: loop
            loop:
              for_each: [1, 2]
              steps:
                - id: a
                  python: {FUNCS}:noop
                - id: b
                  python: {FUNCS}:noop
                  dependencies: [a]
        """,
        history=history,
    )
    (record,) = iter_history(history)
    ids = {s.id: s.parent for s in record.steps}
    assert ids["each[0].a"] == "each" and ids["each[1].b"] == "each" and ids["each"] is None
    assert ("each[1].a", "each[1].b") in record.edges


def test_secrets_never_reach_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCTL_TEST_SECRET", SECRET)
    history = tmp_path / "hist.jsonl"
    result = run_spec(
        tmp_path,
        f"""
        name: secretive
        secrets: [FLOWCTL_TEST_SECRET]
        steps:
          - id: show
            python: {FUNCS}:print_secret
          - id: shell
            run: 'echo "token=$FLOWCTL_TEST_SECRET"; echo "$FLOWCTL_TEST_SECRET" | base64'
          - id: leak
            python: {FUNCS}:leak_secret_error
            dependencies: [show, shell]
        """,
        history=history,
    )
    assert result.status is RunStatus.FAILED
    # Outputs keep the real value for the steps downstream ...
    assert result.step("show").outputs["token"] == SECRET
    # ... but nothing written anywhere holds it, in any form.
    assert result.paths is not None
    files = [result.paths.audit, result.paths.report, history, *result.paths.logs_dir.iterdir()]
    assert any(p.name == "show.log" for p in files)
    for path in files:
        text = path.read_text()
        assert SECRET not in text, path
        assert "czNjcjN0LVRvazNuLXZhbHVl" not in text, path  # base64
    assert "***" in result.paths.audit.read_text()
    assert result.error == "step 'leak' failed: RuntimeError: bad token ***"


def test_a_missing_or_short_secret_is_refused_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = f"""
        name: needs_secret
        secrets: [FLOWCTL_TEST_SECRET]
        steps:
          - id: a
            python: {FUNCS}:noop
        """
    monkeypatch.delenv("FLOWCTL_TEST_SECRET", raising=False)
    with pytest.raises(InputError, match="secret FLOWCTL_TEST_SECRET is not set"):
        run_spec(tmp_path, text)
    monkeypatch.setenv("FLOWCTL_TEST_SECRET", "abc")
    with pytest.raises(SecretTooShortError):
        run_spec(tmp_path, text)
    assert not (tmp_path / ".flowctl" / "runs").exists()


def test_an_agent_capability_no_agent_has_is_refused_with_its_location(tmp_path: Path) -> None:
    spec = tmp_path / "wf.yaml"
    spec.write_text(
        "name: unsupported\nsteps:\n  - id: a\n    cache: {key: k}\n"
        "    error_handlers: [h]\n    agent_capability: ocr\n"
        f"  - id: h\n    python: {FUNCS}:noop\n"
    )
    from flowctl.api import run_workflow

    with pytest.raises(SpecError) as info:
        run_workflow(spec, state_dir=tmp_path / "state")
    assert "step 'a' asks for agent capability 'ocr', which no agent has" in str(info.value)
    assert "uses cache" not in str(info.value)  # issue 4 runs cache, handlers, sagas
    assert str(info.value).startswith(f"{spec}:6:5: ")  # with the key's location
    assert info.value.exit_code is ExitCode.USAGE
    assert not (tmp_path / "state").exists()


def test_observers_see_every_event_in_order(tmp_path: Path) -> None:
    seen: list[RunEvent] = []

    class Recorder:
        def handle(self, event: RunEvent) -> None:
            seen.append(event)

    observer: RunObserver = Recorder()
    result = run_spec(
        tmp_path,
        f"""
        name: observed
        steps:
          - id: a
            python: {FUNCS}:noop
        """,
        observers=[observer],
    )
    assert isinstance(seen[0], RunStarted)
    assert isinstance(seen[-1], RunFinished) and seen[-1].status is RunStatus.COMPLETED
    finished = [e for e in seen if isinstance(e, StepFinished)]
    assert [(e.step, e.status) for e in finished] == [("a", StepStatus.COMPLETED)]
    assert result.ok


def test_step_logs_hold_shell_output_and_are_named_by_qualified_id(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        """
        name: logged
        steps:
          - id: each
            type: loop
            loop:
              for_each: [1]
              steps:
                - id: say
                  run: echo "line from {{ item }}"
        """,
    )
    log = result.step("each[0].say").log_path
    assert log is not None and log.name == "each[0].say.log"
    assert "line from 1" in log.read_text()


def test_report_carries_the_optimization_analysis_of_the_history(tmp_path: Path) -> None:
    text = f"""
        name: optimized
        steps:
          - id: a
            python: {FUNCS}:noop
          - id: b
            python: {FUNCS}:noop
            dependencies: [a]
        """
    run_spec(tmp_path, text)
    result = run_spec(tmp_path, text)
    assert result.report_path is not None
    report = json.loads(result.report_path.read_text())
    assert report["optimization_note"] is None
    optimization = report["optimization"]
    assert optimization["workflow"] == "optimized"
    assert optimization["summary"]["runs"] == 2  # this run included
