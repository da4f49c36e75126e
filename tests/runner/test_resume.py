"""resume: completed work is restored from the journal, the rest runs again (SPEC.md 4)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from flowctl.errors import StateError, UsageError
from flowctl.runner.resume.run import plan_resume, resume_workflow
from flowctl.state.audit import read_journal
from flowctl.status import RunStatus
from tests.cli import run_flowctl
from tests.runner.failure_funcs import calls
from tests.runner.sched_kit import events, run_cli, run_spec, write_spec

KIT = "tests.runner.failure_funcs"


def _chain(tmp_path: Path) -> str:
    log, flag = tmp_path / "calls", tmp_path / "flag"
    return f"""
        name: chain
        inputs:
          region: {{type: string, default: eu}}
        steps:
          - id: a
            python: {KIT}:counted
            input_mapping: {{log: "'{log}'", name: "'a'", region: inputs.region}}
            output_mapping: {{result.region: workflow.where}}
          - id: b
            dependencies: [a]
            python: {KIT}:fail_unless
            input_mapping: {{log: "'{log}'", name: "'b'", flag: "'{flag}'"}}
          - id: c
            dependencies: [b]
            python: {KIT}:counted
            input_mapping:
              log: "'{log}'"
              name: "'c'"
              where: workflow.where
              a_calls: steps.a.outputs.calls
          - id: side
            python: {KIT}:counted
            input_mapping: {{log: "'{log}'", name: "'side'"}}
        """


def resume(tmp_path: Path, run_id: str, **options: Any) -> Any:
    return resume_workflow(run_id, state_dir=tmp_path / ".flowctl", durable=False, **options)


def flowctl(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m flowctl ARGS --state-dir <tmp>/.flowctl --no-progress`."""
    return run_flowctl(*args, "--state-dir", tmp_path / ".flowctl", "--no-progress")


def test_completed_steps_are_restored_and_failed_ones_run_again(tmp_path: Path) -> None:
    first = run_spec(tmp_path, _chain(tmp_path), inputs={"region": "us"})
    assert first.status is RunStatus.FAILED
    (tmp_path / "flag").touch()
    size = first.paths.audit.stat().st_size if first.paths else 0
    second = resume_workflow(first.run_id[:12], state_dir=tmp_path / ".flowctl", durable=False)
    assert second.status is RunStatus.COMPLETED, second.error
    assert second.run_id == first.run_id and second.resumed
    assert calls(tmp_path / "calls") == {"a": 1, "side": 1, "b": 2, "c": 1}
    # Outputs, workflow data and inputs came back from the journal.
    assert second.step("c").outputs == {"calls": 1, "where": "us", "a_calls": 1}
    assert second.data["where"] == "us" and second.inputs == {"region": "us"}
    assert second.step("a").restored and not second.step("b").restored
    contents = read_journal(first.paths.audit if first.paths else Path())
    seqs = [e.seq for e in contents.events]
    assert seqs == list(range(1, len(seqs) + 1))  # one journal, seq continues
    assert first.paths is not None and first.paths.audit.stat().st_size > size
    starts = [e for e in contents.events if e.event == "run_started"]
    assert [s.data["resumed"] for s in starts] == [False, True]
    for start in starts:
        assert {"spec", "spec_sha256", "inputs", "workdir", "pid", "host", "step_ids"} <= set(
            start.data
        )
    assert starts[0].data["spec"] == "wf.yaml"  # relative to the project root (.flowctl/..)
    finished = [e.data["status"] for e in contents.events if e.event == "run_finished"]
    assert finished == ["failed", "completed"]
    history = (tmp_path / ".flowctl" / "history.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in history]
    assert [(r["run_id"], r["status"]) for r in records] == [
        (first.run_id, "failed"),
        (first.run_id, "completed"),
    ]
    assert {s["id"] for s in records[1]["steps"]} == {"a", "b", "c", "side"}
    report = json.loads(first.paths.report.read_text())
    assert report["status"] == "completed" and report["resumed"] is True


@pytest.mark.slow
def test_resuming_a_completed_run_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "flag").touch()
    first = run_spec(tmp_path, _chain(tmp_path))
    assert first.ok and first.paths is not None
    before = first.paths.audit.read_bytes()
    again = resume(tmp_path, first.run_id)
    assert again.status is RunStatus.COMPLETED
    assert first.paths.audit.read_bytes() == before
    assert len((tmp_path / ".flowctl" / "history.jsonl").read_text().splitlines()) == 1
    proc = flowctl(tmp_path, "resume", first.run_id)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        f"run {first.run_id} is already complete; nothing to resume "
        "(use --from STEP to run steps again)\n"
    )
    assert first.paths.audit.read_bytes() == before


def test_a_changed_spec_is_refused_unless_forced(tmp_path: Path) -> None:
    first = run_spec(tmp_path, _chain(tmp_path))
    write_spec(
        tmp_path, _chain(tmp_path).replace("name: chain", "name: chain\n        version: '2'")
    )
    (tmp_path / "flag").touch()
    with pytest.raises(StateError) as info:
        resume(tmp_path, first.run_id)
    message = str(info.value)
    assert message.startswith(f"the spec changed since run {first.run_id} (")
    assert message.endswith("); use --force to resume anyway")
    assert info.value.exit_code == 2
    forced = resume(tmp_path, first.run_id, force=True)
    assert forced.status is RunStatus.COMPLETED


def test_from_runs_the_step_and_everything_downstream_again(tmp_path: Path) -> None:
    (tmp_path / "flag").touch()
    first = run_spec(tmp_path, _chain(tmp_path))
    assert first.ok
    again = resume(tmp_path, first.run_id, from_step="b")
    assert again.status is RunStatus.COMPLETED
    assert calls(tmp_path / "calls") == {"a": 1, "side": 1, "b": 2, "c": 2}
    resets = [e.step for e in events(first) if e.event == "step_reset"]
    assert resets == ["b", "c"]
    with pytest.raises(
        UsageError, match="--from bb: the workflow has no step 'bb'; did you mean b"
    ):
        resume(tmp_path, first.run_id, from_step="bb")


def test_skip_marks_a_failed_step_done_with_given_outputs(tmp_path: Path) -> None:
    first = run_spec(
        tmp_path,
        _chain(tmp_path).replace(
            "name: \"'c'\"", "name: \"'c'\"\n              b_out: steps.b.outputs.x"
        ),
    )
    assert first.status is RunStatus.FAILED
    again = resume(tmp_path, first.run_id, skip="b", skip_outputs='{"x": 42}')
    assert again.status is RunStatus.COMPLETED
    assert again.step("c").outputs["b_out"] == 42
    assert calls(tmp_path / "calls")["b"] == 1  # not run again
    skipped = next(e for e in events(first) if e.event == "step_completed" and e.step == "b")
    assert skipped.data["skipped_by_user"] is True and skipped.data["outputs"] == {"x": 42}
    with pytest.raises(UsageError, match="--skip a: the step is completed"):
        resume(tmp_path, first.run_id, from_step="c", skip="a")
    with pytest.raises(UsageError, match="--outputs must be a JSON object"):
        resume(tmp_path, first.run_id, skip="b", skip_outputs="[1]")
    with pytest.raises(UsageError, match="--outputs is not valid JSON"):
        resume(tmp_path, first.run_id, skip="b", skip_outputs="{x")


def test_only_failed_items_of_a_for_each_and_a_parallel_run_again(tmp_path: Path) -> None:
    log, flag = tmp_path / "calls", tmp_path / "flag"
    text = f"""
        name: fanout
        steps:
          - id: each
            type: loop
            loop:
              for_each: [0, 1, 2, 3]
              steps:
                - id: work
                  python: {KIT}:fail_unless
                  input_mapping:
                    log: "'{log}'"
                    name: "'work' ~ item"
                    flag: "'{flag}' if item == 2 else '/'"
          - id: par
            type: parallel
            dependencies: [each]
            trigger_rule: all_done
            parallel_steps:
              - id: p1
                python: {KIT}:counted
                input_mapping: {{log: "'{log}'", name: "'p1'"}}
              - id: p2
                python: {KIT}:fail_unless
                input_mapping: {{log: "'{log}'", name: "'p2'", flag: "'{flag}'"}}
        """
    first = run_spec(tmp_path, text, max_parallel=1)
    assert first.status is RunStatus.FAILED
    assert calls(log) == {"work0": 1, "work1": 1, "work2": 1, "p1": 1, "p2": 1}
    flag.touch()
    again = resume(tmp_path, first.run_id)
    assert again.status is RunStatus.COMPLETED
    assert calls(log) == {"work0": 1, "work1": 1, "work2": 2, "work3": 1, "p1": 1, "p2": 2}
    outputs = again.step("each").outputs
    assert outputs["count"] == 4 and outputs["iterations"][0] == {"work": {"calls": 1}}


def test_steps_in_flight_at_a_crash_run_again_with_the_same_idempotency_key(
    tmp_path: Path,
) -> None:
    first = run_spec(
        tmp_path,
        f"""
        name: crashed
        steps:
          - id: key
            python: {KIT}:key_of
          - id: after
            dependencies: [key]
            python: {KIT}:key_of
        """,
    )
    assert first.paths is not None
    original = first.step("after").outputs["key"]
    # Cut the journal back to "after" started, with a torn half line: a kill -9 mid-write.
    lines = first.paths.audit.read_bytes().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if b'"step_started","step":"after"' in line)
    first.paths.audit.write_bytes(b"".join(lines[: cut + 1]) + lines[cut + 1][:25])
    plan = plan_resume(tmp_path / ".flowctl", first.run_id)
    torn = f"{first.paths.audit}: dropped a torn last line (the run was killed mid-write)"
    assert plan.warnings == [torn]
    again = resume(tmp_path, first.run_id)
    assert again.status is RunStatus.COMPLETED
    assert again.step("after").outputs["key"] == original == f"{first.run_id}:after"
    assert again.step("key").restored
    # The torn fragment was ended by a newline: later readers skip it as one bad line.
    contents = read_journal(first.paths.audit)
    assert len(contents.bad_lines) == 1 and not contents.torn_tail
    assert contents.events[-1].data["status"] == "completed"


def test_unknown_runs_and_runs_that_never_started_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="no run 'nope'"):
        resume(tmp_path, "nope")
    run_dir = tmp_path / ".flowctl" / "runs" / "20260101T000000Z-abcdef"
    (run_dir / "logs").mkdir(parents=True)
    (run_dir / "audit.jsonl").write_text("")
    with pytest.raises(StateError, match="never started"):
        resume(tmp_path, "20260101T000000Z-abcdef")


def test_a_run_in_use_by_another_process_is_refused(tmp_path: Path) -> None:
    from flowctl.runner.runlock import run_lock

    first = run_spec(tmp_path, _chain(tmp_path))
    assert first.paths is not None
    in_use = pytest.raises(StateError, match="is in use by another flowctl process")
    with run_lock(first.paths.run_dir, first.run_id), in_use:
        resume(tmp_path, first.run_id)
    (tmp_path / "flag").touch()
    assert resume(tmp_path, first.run_id).ok


@pytest.mark.slow
def test_the_cli_resumes_with_the_exit_code_of_the_outcome(tmp_path: Path) -> None:
    proc = run_cli(tmp_path, _chain(tmp_path))
    assert proc.returncode == 1
    run_id = next((tmp_path / ".flowctl" / "runs").iterdir()).name
    again = flowctl(tmp_path, "resume", run_id[:10])
    assert again.returncode == 1  # still failing: the flag is not there
    (tmp_path / "flag").touch()
    done = flowctl(tmp_path, "resume", run_id[:10], "--output", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["run_id"] == run_id and report["status"] == "completed"
    assert f"run {run_id} resumed" in done.stderr
    assert calls(tmp_path / "calls") == {"a": 1, "side": 1, "b": 3, "c": 1}
    changed = write_spec(tmp_path, _chain(tmp_path).replace("- id: side", "- id: side2"))
    assert changed.exists()
    refused = flowctl(tmp_path, "resume", run_id, "--from", "a")
    assert refused.returncode == 2
    assert "the spec changed since run" in refused.stderr and "Traceback" not in refused.stderr


def test_a_resumed_run_that_fails_undoes_the_steps_it_restored(tmp_path: Path) -> None:
    log = tmp_path / "undo.txt"
    first = run_spec(
        tmp_path,
        f"""
        name: restored-saga
        steps:
          - id: each
            type: loop
            loop:
              for_each: [x, y]
              steps:
                - id: book
                  python: tests.runner.sched_funcs:echo
                  input_mapping: {{seat: "index + 10"}}
                  rollback_actions:
                    - run: 'echo "cancel {{{{ item }}}} {{{{ params.seat }}}}" >> {log}'
          - id: approve
            type: human_task
            dependencies: [each]
            approval: {{message: pay?}}
        """,
    )
    assert first.status is RunStatus.WAITING_APPROVAL
    from flowctl.runner.approval.decisions import ApprovalDecision, DecisionSource, record_decision
    from flowctl.state.audit import utc_timestamp

    assert first.paths is not None
    decision = ApprovalDecision(
        step="approve",
        approved=False,
        by="eve",
        comment=None,
        ts=utc_timestamp(),
        source=DecisionSource.CLI,
    )
    record_decision(first.paths, decision)
    again = resume(tmp_path, first.run_id)
    assert again.status is RunStatus.FAILED
    assert again.error == "step 'approve' failed: rejected by eve"
    assert log.read_text().splitlines() == ["cancel y 11", "cancel x 10"]
    assert again.step("each[0].book").status.value == "rolled_back"
    history = (tmp_path / ".flowctl" / "history.jsonl").read_text().splitlines()
    assert {s["id"] for s in json.loads(history[-1])["steps"]} == {
        "each",
        "each[0].book",
        "each[1].book",
        "approve",
    }


def test_from_inside_a_loop_runs_that_iteration_its_loop_and_what_follows(
    tmp_path: Path,
) -> None:
    log = tmp_path / "calls"
    first = run_spec(
        tmp_path,
        f"""
        name: loop-from
        steps:
          - id: each
            type: loop
            loop:
              for_each: [0, 1, 2]
              steps:
                - id: w
                  python: {KIT}:counted
                  input_mapping: {{log: "'{log}'", name: "'w' ~ item"}}
                - id: v
                  dependencies: [w]
                  python: {KIT}:counted
                  input_mapping: {{log: "'{log}'", name: "'v' ~ item"}}
          - id: after
            dependencies: [each]
            python: {KIT}:counted
            input_mapping: {{log: "'{log}'", name: "'after'"}}
          - id: aside
            python: {KIT}:counted
            input_mapping: {{log: "'{log}'", name: "'aside'"}}
        """,
    )
    assert first.ok
    assert resume(tmp_path, first.run_id, from_step="each[1].w").ok
    assert calls(log) == {
        "w0": 1,
        "v0": 1,
        "w1": 2,
        "v1": 2,
        "w2": 1,
        "v2": 1,
        "after": 2,
        "aside": 1,
    }
    assert resume(tmp_path, first.run_id, from_step="v").ok  # every iteration's v
    assert calls(log)["v0"] == 2 and calls(log)["w0"] == 1 and calls(log)["after"] == 3
