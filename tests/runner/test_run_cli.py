"""`flowctl run` as a user runs it: a real subprocess, exit codes, files, the summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli import REPO, python_path
from tests.runner.sched_kit import (
    FUNCS,
    attempt_spans,
    cli_events,
    cli_report,
    max_overlap,
    run_cli,
    spans,
    ts,
    write_spec,
)

EVERYTHING = f"""
name: everything
inputs:
  kind: {{type: string}}
  count: {{type: integer, default: 2}}
steps:
  - id: fetch
    python: {FUNCS}:echo
    input_mapping: {{kind: inputs.kind, count: inputs.count}}
    output_mapping: {{result.count: workflow.totals.count}}
  - id: slow
    python: {FUNCS}:sleep
    input_mapping: {{seconds: "0.4"}}
  - id: after_fetch
    python: {FUNCS}:noop
    dependencies: [fetch]
  - id: route
    type: condition
    dependencies: [fetch]
    cases:
      - when: inputs.kind == 'invoice'
        next_steps: [invoice]
    default: [other]
  - id: invoice
    python: {FUNCS}:noop
  - id: other
    python: {FUNCS}:noop
  - id: after_other
    python: {FUNCS}:noop
    dependencies: [other]
  - id: each
    type: loop
    dependencies: [fetch]
    loop:
      for_each: "range(workflow.totals.count) | list"
      max_concurrency: 2
      steps:
        - id: square
          python: {FUNCS}:echo
          input_mapping: {{n: "item * item"}}
  - id: fan
    type: parallel
    min_success_ratio: 0.5
    parallel_steps:
      - id: good
        python: {FUNCS}:noop
      - id: bad
        python: {FUNCS}:fail
  - id: validated
    python: {FUNCS}:echo
    input_mapping: {{n: inputs.count}}
    input_validation: {{properties: {{n: {{maximum: 10}}}}}}
  - id: strict
    python: {FUNCS}:noop
    dependencies: [fetch, other]
    trigger_rule: all_success
  - id: finally
    python: {FUNCS}:noop
    dependencies: [slow, after_other, each, fan, validated, strict]
    trigger_rule: all_done
"""


@pytest.mark.slow
def test_a_run_through_the_cli_follows_every_rule(tmp_path: Path) -> None:
    proc = run_cli(tmp_path, EVERYTHING, "--input", "kind=invoice", "--input", "count=3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = cli_report(tmp_path)
    status = {s["id"]: s["status"] for s in report["steps"]}
    assert status["invoice"] == "completed"
    assert status["other"] == "skipped" and status["after_other"] == "skipped"
    assert status["each[2].square"] == "completed"
    assert status["bad"] == "failed" and status["fan"] == "completed"
    assert status["strict"] == "skipped"
    assert status["finally"] == "completed"
    assert report["workflow_data"] == {"kind": "invoice", "count": 3, "totals": {"count": 3}}
    span = spans(cli_events(tmp_path))
    assert span["after_fetch"].start < span["slow"].end  # event-driven, not by waves
    assert span["finally"].start >= span["slow"].end
    summary = proc.stdout.splitlines()[-2:]
    assert summary[0].startswith("✓ everything completed in ")
    assert ", total " in summary[0]  # the process's wall time beside the run's
    assert f"(run {report['run_id']})" in summary[0]
    assert summary[1] == "  tolerated failures: bad"


@pytest.mark.slow
def test_loops_parallel_and_validation_failures_through_the_cli(tmp_path: Path) -> None:
    counter = tmp_path / "n"
    proc = run_cli(
        tmp_path,
        f"""
        name: failures
        steps:
          - id: poll
            type: loop
            loop:
              while: "index == 0 or steps.tick.outputs.n < 2"
              steps:
                - id: tick
                  python: {FUNCS}:count_up
                  input_mapping: {{counter: "'{counter}'"}}
          - id: runaway
            type: loop
            continue_on_failure: true
            loop:
              while: "true"
              max_iterations: 2
              steps:
                - id: spin
                  python: {FUNCS}:noop
          - id: fan
            type: parallel
            continue_on_failure: true
            min_success_ratio: 1.0
            parallel_steps:
              - id: fine
                python: {FUNCS}:noop
              - id: broken
                python: {FUNCS}:fail
          - id: checked
            python: {FUNCS}:echo
            continue_on_failure: true
            input_mapping: {{n: "-1"}}
            input_validation: {{properties: {{n: {{minimum: 0}}}}}}
        """,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = {s["id"]: s for s in cli_report(tmp_path)["steps"]}
    assert steps["poll"]["status"] == "completed" and "poll[1].tick" in steps
    assert steps["runaway"]["error"] == (
        "loop reached max_iterations (2) and `while: true` was still true"
    )
    assert steps["fan"]["status"] == "failed"
    assert "min_success_ratio 1" in steps["fan"]["error"]
    assert steps["checked"]["error"] == (
        "input_validation failed at params.n: -1 is less than the minimum of 0"
    )
    assert steps["checked"]["attempts"] == 1
    assert "tolerated failures: " in proc.stdout


@pytest.mark.slow
def test_failure_exit_1_and_the_summary_puts_the_root_cause_first(tmp_path: Path) -> None:
    proc = run_cli(
        tmp_path,
        f"""
        name: broken
        steps:
          - id: extract
            run: 'echo "reading input"; echo "disk on fire" >&2; exit 4'
          - id: transform
            python: {FUNCS}:noop
            dependencies: [extract]
          - id: load
            python: {FUNCS}:noop
            dependencies: [transform]
          - id: slow
            python: {FUNCS}:sleep
            input_mapping: {{seconds: "10"}}
        """,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    head = out.index("✗ broken failed in ")
    root = out.index("  root cause: step 'extract' failed: ", head)
    cancelled = out.index("  cancelled: slow", root)
    skipped = out.index("  skipped: transform, load", cancelled)
    assert head < root < cancelled < skipped
    assert "disk on fire" in out[skipped:]  # the failing step's log tail follows
    report = cli_report(tmp_path)
    assert (report["status"], report["root_cause"]) == ("failed", "extract")


@pytest.mark.slow
def test_the_concurrency_limit_from_the_command_line(tmp_path: Path) -> None:
    steps = "\n".join(
        f"""  - id: s{i}
    python: {FUNCS}:sleep
    input_mapping: {{seconds: "0.1"}}"""
        for i in range(5)
    )
    proc = run_cli(tmp_path, f"name: limited\nsteps:\n{steps}\n", "--max-parallel", "2")
    assert proc.returncode == 0, proc.stderr
    assert max_overlap(attempt_spans(cli_events(tmp_path))) == 2


@pytest.mark.slow
def test_retries_with_backoff_are_in_the_audit_log(tmp_path: Path) -> None:
    counter = tmp_path / "calls"
    proc = run_cli(
        tmp_path,
        f"""
        name: retried
        steps:
          - id: shaky
            python: {FUNCS}:flaky
            input_mapping: {{counter: "'{counter}'", failures: "2"}}
            retry_policy: {{max_attempts: 3, backoff_strategy: linear, delay: 100ms}}
        """,
    )
    assert proc.returncode == 0, proc.stderr
    evts = [e for e in cli_events(tmp_path) if e.step == "shaky"]
    retries = [e for e in evts if e.event == "step_retrying"]
    assert [e.data["delay"] for e in retries] == [0.1, 0.2]
    starts = [ts(e) for e in evts if e.event == "step_started"]
    assert starts[2] - starts[1] >= 0.199  # attempt 2 ran, then the 0.2 s backoff


def test_the_run_timeout_exits_3(tmp_path: Path) -> None:
    proc = run_cli(
        tmp_path,
        """
        name: late
        timeout: 500ms
        steps:
          - id: nap
            run: sleep 3600
        """,
    )  # run_cli's 60 s timeout fails the test if the timeout did not stop the hour-long step
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "reason: the run timed out after 500ms" in proc.stdout
    assert cli_report(tmp_path)["status"] == "timeout"


def test_inputs_from_a_file_and_the_command_line(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({"kind": "from-file", "count": 5}))
    proc = run_cli(
        tmp_path,
        f"""
        name: given
        inputs:
          kind: {{type: string}}
          count: {{type: integer}}
        steps:
          - id: show
            python: {FUNCS}:echo
            input_mapping: {{kind: inputs.kind, count: inputs.count}}
        """,
        "--inputs-file",
        str(inputs),
        "--input",
        "count=7",
    )
    assert proc.returncode == 0, proc.stderr
    assert cli_report(tmp_path)["inputs"] == {"kind": "from-file", "count": 7}


@pytest.mark.slow
def test_bad_input_exits_2_before_anything_runs(tmp_path: Path) -> None:
    proc = run_cli(
        tmp_path,
        f"""
        name: strict
        inputs:
          count: {{type: integer}}
        steps:
          - id: a
            python: {FUNCS}:noop
        """,
        "--input",
        "count=many",
    )
    assert proc.returncode == 2
    assert "count" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / ".flowctl" / "runs").exists()


def test_unsupported_features_are_refused_with_their_location(tmp_path: Path) -> None:
    proc = run_cli(
        tmp_path,
        f"""
        name: later
        steps:
          - id: pay
            python: {FUNCS}:noop
            circuit_breaker: {{name: payments}}
          - id: classify
            agent_capability: ocr
        """,
    )
    assert proc.returncode == 2
    spec = tmp_path / "wf.yaml"
    assert (
        f"{spec}:7:5: error: step 'classify' asks for agent capability 'ocr', which no agent has"
        in proc.stderr
    )
    assert "circuit_breaker" not in proc.stderr  # runs since issue 4


@pytest.mark.slow
def test_output_json_prints_the_report_on_stdout(tmp_path: Path) -> None:
    proc = run_cli(
        tmp_path,
        f"""
        name: machine
        steps:
          - id: a
            python: {FUNCS}:noop
        """,
        "--output",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "completed"
    # Beside the run's own duration, the whole process's: start-up and loading included.
    total = report.pop("process_duration")
    assert total >= report["duration"] > 0
    assert report == cli_report(tmp_path)
    assert "a" in proc.stderr  # progress lines went to stderr


def test_extra_copies_of_audit_report_and_junit(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_cli(
        tmp_path,
        f"""
        name: copies
        steps:
          - id: a
            python: {FUNCS}:noop
          - id: b
            python: {FUNCS}:fail
            continue_on_failure: true
        """,
        "--audit-log",
        str(out / "audit.jsonl"),
        "--report",
        str(out / "report.json"),
        "--junit",
        str(out / "junit.xml"),
        "--history",
        str(out / "history.jsonl"),
    )
    assert proc.returncode == 0, proc.stderr
    run_dir = next((tmp_path / ".flowctl" / "runs").iterdir())
    assert (out / "audit.jsonl").read_text() == (run_dir / "audit.jsonl").read_text()
    assert json.loads((out / "report.json").read_text())["run_id"] == run_dir.name
    junit = (out / "junit.xml").read_text()
    assert 'tests="2"' in junit and 'failures="1"' in junit
    assert len((out / "history.jsonl").read_text().splitlines()) == 1
    assert not (tmp_path / ".flowctl" / "history.jsonl").exists()


@pytest.mark.slow
def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path: Path) -> None:
    text = f"""
        name: planned
        steps:
          - id: a
            run: echo a
          - id: b
            python: {FUNCS}:noop
            dependencies: [a]
          - id: c
            type: loop
            dependencies: [a]
            loop:
              for_each: [1, 2]
              steps:
                - id: inner
                  python: {FUNCS}:noop
        """
    proc = run_cli(tmp_path, text, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("plan for planned (")
    assert "3 steps" not in lines[0] and "4 steps in 2 levels" in lines[0]
    assert lines[1:4] == ["level 1:", "  a [action] run: echo a", "level 2:"]
    assert "  b [action] python: tests.runner.sched_funcs:noop  (after a)" in lines
    assert "      inner [action] python: tests.runner.sched_funcs:noop" in lines
    assert lines[-1] == "estimated duration: unknown (no completed run in the history yet)"
    assert not (tmp_path / ".flowctl" / "runs").exists()

    assert run_cli(tmp_path, text).returncode == 0  # one run makes a history
    proc = run_cli(tmp_path, text, "--dry-run", "--output", "json")
    plan = json.loads(proc.stdout)
    assert [[s["id"] for s in level] for level in plan["levels"]] == [["a"], ["b", "c"]]
    assert plan["estimate"]["runs"] == 1
    assert plan["estimate"]["critical_path"][0] == "a"


@pytest.mark.slow
def test_secrets_are_masked_on_the_console(tmp_path: Path) -> None:
    secret = "hunter2-is-not-a-good-password"
    proc = run_cli(
        tmp_path,
        """
        name: quiet
        secrets: [FLOWCTL_TEST_SECRET]
        steps:
          - id: blab
            run: 'echo "$FLOWCTL_TEST_SECRET" >&2; exit 1'
        """,
        env={"FLOWCTL_TEST_SECRET": secret},
    )
    assert proc.returncode == 1
    assert secret not in proc.stdout + proc.stderr
    assert "***" in proc.stdout


@pytest.mark.slow
def test_sigint_cancels_the_run_and_exits_130(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        """
        name: interrupted
        steps:
          - id: nap
            run: sleep 30
          - id: after
            run: echo never
            dependencies: [nap]
        """,
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flowctl",
            "run",
            str(spec),
            "--state-dir",
            str(tmp_path / ".flowctl"),
            "--no-progress",
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": python_path(), "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 20
    while time.time() < deadline:
        runs = tmp_path / ".flowctl" / "runs"
        if runs.exists() and any(
            "step_started" in p.read_text() for p in runs.glob("*/audit.jsonl")
        ):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130, stdout + stderr
    events = cli_events(tmp_path)
    assert events[-1].event == "run_finished"
    assert events[-1].data["status"] == "cancelled"
    assert "interrupted by SIGINT" in stdout
    assert cli_report(tmp_path)["steps"][0]["status"] == "cancelled"
