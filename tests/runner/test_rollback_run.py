"""The saga in a run: on an unhandled failure or a timeout, completed steps are undone."""

from __future__ import annotations

from pathlib import Path

from flowctl.runner.events import RunEvent, RunStatusChanged
from flowctl.status import RunStatus, StepStatus
from tests.runner.sched_kit import FUNCS, events, names, run_spec


def _undo(log: Path, text: str) -> str:
    """A shell command (to sit in single quotes in YAML) appending `text` to `log`."""
    return f'echo "{text}" >> {log}'


def test_completed_steps_are_undone_newest_first(tmp_path: Path) -> None:
    log = tmp_path / "undo.txt"
    seen: list[RunEvent] = []

    class Recorder:
        def handle(self, event: RunEvent) -> None:
            seen.append(event)

    result = run_spec(
        tmp_path,
        f"""
        name: saga
        steps:
          - id: reserve
            run: echo seat-12
            rollback_actions:
              - run: '{_undo(log, "release {{ result.stdout }}")}'
          - id: charge
            dependencies: [reserve]
            python: {FUNCS}:echo
            input_mapping: {{amount: 30}}
            rollback_actions:
              - run: '{_undo(log, "refund {{ params.amount }} {{ result.amount }}")}'
              - run: '{_undo(log, "email {{ steps.reserve.outputs.stdout }}")}'
          - id: plain
            dependencies: [reserve]
            python: {FUNCS}:noop
          - id: ship
            dependencies: [charge, plain]
            python: {FUNCS}:fail
        """,
        observers=[Recorder()],
    )
    assert result.status is RunStatus.FAILED
    assert result.error == "step 'ship' failed: RuntimeError: boom"
    assert log.read_text().splitlines() == ["refund 30 30", "email seat-12", "release seat-12"]
    assert result.step("charge").status is StepStatus.ROLLED_BACK
    assert result.step("reserve").status is StepStatus.ROLLED_BACK
    assert result.step("plain").status is StepStatus.COMPLETED  # nothing to undo
    evts = events(result)
    kinds = [e.event for e in evts if e.event.startswith("rollback") or e.event.endswith("back")]
    assert kinds == [
        "rollback_started",
        "rollback_action",
        "rollback_action",
        "step_rolled_back",
        "rollback_action",
        "step_rolled_back",
        "rollback_finished",
    ]
    started = next(e for e in evts if e.event == "rollback_started")
    assert started.data == {"reason": "step 'ship' failed", "steps": ["charge", "reserve"]}
    actions = [
        (e.step, e.data["index"], e.data["ok"]) for e in evts if e.event == "rollback_action"
    ]
    assert actions == [("charge", 0, True), ("charge", 1, True), ("reserve", 0, True)]
    assert next(e for e in evts if e.event == "rollback_finished").data == {"failed": 0}
    assert evts[-1].event == "run_finished" and evts[-1].data["status"] == "failed"
    assert any(isinstance(e, RunStatusChanged) and e.status is RunStatus.ROLLBACK for e in seen)


def test_a_failing_action_is_recorded_and_the_others_still_run(tmp_path: Path) -> None:
    log = tmp_path / "undo.txt"
    result = run_spec(
        tmp_path,
        f"""
        name: broken-undo
        steps:
          - id: a
            python: {FUNCS}:noop
            rollback_actions:
              - run: '{_undo(log, "undo a")}'
          - id: b
            dependencies: [a]
            python: {FUNCS}:noop
            rollback_actions:
              - run: 'echo cannot >&2; exit 7'
              - run: '{_undo(log, "undo b, second action")}'
          - id: c
            dependencies: [b]
            python: {FUNCS}:fail
        """,
    )
    assert result.status is RunStatus.FAILED and result.rollback_failed == 1
    assert log.read_text().splitlines() == ["undo b, second action", "undo a"]
    assert result.step("b").status is StepStatus.COMPLETED  # its undo did not fully succeed
    assert result.step("a").status is StepStatus.ROLLED_BACK
    evts = events(result)
    failed = [e for e in evts if e.event == "rollback_action" and not e.data["ok"]]
    assert [(e.step, e.data["index"]) for e in failed] == [("b", 0)]
    assert "exited with code 7" in failed[0].data["error"]
    assert next(e for e in evts if e.event == "rollback_finished").data == {"failed": 1}
    assert names(evts, "step_rolled_back") == ["a"]
    log_file = result.paths.logs_dir / "b.log" if result.paths else None
    assert log_file is not None and "rollback 1 failed" in log_file.read_text()


def test_loop_iterations_are_undone_one_by_one(tmp_path: Path) -> None:
    log = tmp_path / "undo.txt"
    result = run_spec(
        tmp_path,
        f"""
        name: loop-saga
        steps:
          - id: each
            type: loop
            loop:
              for_each: [a, b, c]
              steps:
                - id: book
                  python: {FUNCS}:noop
                  rollback_actions:
                    - run: '{_undo(log, "cancel {{ item }} {{ index }}")}'
          - id: pay
            dependencies: [each]
            python: {FUNCS}:fail
        """,
    )
    assert result.status is RunStatus.FAILED
    assert log.read_text().splitlines() == ["cancel c 2", "cancel b 1", "cancel a 0"]
    assert result.step("each[1].book").status is StepStatus.ROLLED_BACK


def test_a_run_timeout_rolls_back_and_ends_timeout(tmp_path: Path) -> None:
    log = tmp_path / "undo.txt"
    result = run_spec(
        tmp_path,
        f"""
        name: slow
        timeout: 500ms
        steps:
          - id: a
            python: {FUNCS}:noop
            rollback_actions:
              - python: {FUNCS}:noop
              - run: '{_undo(log, "undo a")}'
          - id: wait
            dependencies: [a]
            python: {FUNCS}:sleep
            input_mapping: {{seconds: 30}}
        """,
    )
    assert result.status is RunStatus.TIMEOUT
    assert log.read_text() == "undo a\n"
    assert result.step("wait").status is StepStatus.CANCELLED
    started = next(e for e in events(result) if e.event == "rollback_started")
    assert started.data["reason"] == "the run timed out after 500ms"


def test_nothing_is_undone_when_the_run_completes_or_failures_are_handled(
    tmp_path: Path,
) -> None:
    log = tmp_path / "undo.txt"
    result = run_spec(
        tmp_path,
        f"""
        name: fine
        steps:
          - id: a
            python: {FUNCS}:noop
            rollback_actions:
              - run: '{_undo(log, "undo a")}'
          - id: b
            dependencies: [a]
            python: {FUNCS}:fail
            error_handlers: [h]
          - id: h
            python: {FUNCS}:noop
          - id: tolerated
            python: {FUNCS}:fail
            continue_on_failure: true
        """,
    )
    assert result.ok, result.error
    assert not log.exists()
    assert not [e for e in events(result) if e.event.startswith("rollback")]
