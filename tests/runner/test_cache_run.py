"""cache in a run: a hit restores outputs and output_mapping without running the step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowctl.runner.engine.cache_lookup import cache_path
from flowctl.state.cache import StepCache
from flowctl.status import StepStatus
from tests.cli import REPO, python_path
from tests.runner.failure_funcs import calls
from tests.runner.sched_kit import events, run_spec, write_spec

KIT = "tests.runner.failure_funcs"


def _spec(log: Path, *, key: str = "prices-{{ inputs.day }}", ttl: str = "1h") -> str:
    return f"""
        name: cached
        inputs:
          day: {{type: string, default: monday}}
        steps:
          - id: fetch
            python: {KIT}:counted
            input_mapping: {{log: "'{log}'", name: "'fetch'", day: inputs.day}}
            cache: {{key: "{key}", ttl: {ttl}}}
            output_mapping: {{result.day: workflow.prices.day}}
          - id: use
            dependencies: [fetch]
            python: tests.runner.sched_funcs:echo
            input_mapping: {{day: workflow.prices.day, calls: steps.fetch.outputs.calls}}
        """


def test_a_hit_in_a_later_run_restores_outputs_and_mapping(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    first = run_spec(tmp_path, _spec(log))
    second = run_spec(tmp_path, _spec(log))
    assert calls(log) == {"fetch": 1}
    hit = second.step("fetch")
    assert hit.status is StepStatus.COMPLETED and hit.cached
    assert not first.step("fetch").cached
    assert hit.outputs == first.step("fetch").outputs == {"calls": 1, "day": "monday"}
    assert second.step("use").outputs == {"day": "monday", "calls": 1}
    assert second.data["prices"] == {"day": "monday"}
    completed = next(e for e in events(second) if e.event == "step_completed")
    assert completed.step == "fetch" and completed.data["cached"] is True
    assert completed.data["outputs"] == {"calls": 1, "day": "monday"}
    assert not [e for e in events(second) if e.event == "step_started" and e.step == "fetch"]
    history = (tmp_path / ".flowctl" / "history.jsonl").read_text().splitlines()
    cached = [{s["id"]: s["cached"] for s in json.loads(line)["steps"]} for line in history]
    assert cached == [{"fetch": False, "use": False}, {"fetch": True, "use": False}]


def test_another_key_or_another_definition_misses(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    run_spec(tmp_path, _spec(log))
    run_spec(tmp_path, _spec(log), inputs={"day": "tuesday"})  # another rendered key
    run_spec(
        tmp_path, _spec(log).replace("'fetch'", "'fetch' ").replace("day: inputs", "d: inputs")
    )
    assert calls(log) == {"fetch": 3}


def test_entries_expire_after_their_ttl_and_cache_clear_forgets_them(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    run_spec(tmp_path, _spec(log, ttl="200ms"))
    time.sleep(0.3)
    assert not run_spec(tmp_path, _spec(log, ttl="200ms")).step("fetch").cached
    assert run_spec(tmp_path, _spec(log, ttl="200ms")).step("fetch").cached
    with StepCache(cache_path(tmp_path / ".flowctl")) as cache:
        assert cache.clear() == 1
    assert not run_spec(tmp_path, _spec(log, ttl="200ms")).step("fetch").cached
    assert calls(log) == {"fetch": 3}


def test_failures_are_not_cached(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    text = f"""
        name: flaky
        steps:
          - id: fetch
            python: {KIT}:fail_unless
            input_mapping: {{log: "'{log}'", name: "'fetch'", flag: "'{tmp_path / "flag"}'"}}
            cache: {{key: fixed}}
        """
    assert run_spec(tmp_path, text).step("fetch").status is StepStatus.FAILED
    (tmp_path / "flag").touch()
    assert not run_spec(tmp_path, text).step("fetch").cached
    assert run_spec(tmp_path, text).step("fetch").cached
    assert calls(log) == {"fetch": 2}


def test_a_key_template_that_fails_fails_the_step_without_retry(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        """
        name: badkey
        variables: {cfg: {}}
        steps:
          - id: fetch
            python: tests.runner.sched_funcs:noop
            cache: {key: "{{ workflow.cfg.nowhere }}"}
            retry_policy: {max_attempts: 3, delay: 0}
        """,
    )
    fetch = result.step("fetch")
    assert fetch.status is StepStatus.FAILED and fetch.error_kind == "expression"
    assert fetch.error is not None and fetch.error.startswith("cache.key: ")


@pytest.mark.slow
def test_concurrent_runs_share_one_cache(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        """
        name: shared
        inputs:
          n: {type: integer}
        steps:
          - id: square
            run: 'echo "value=$(( {{ inputs.n }} * {{ inputs.n }} ))" >> $FLOWCTL_OUTPUT'
            cache: {key: "square-{{ inputs.n }}"}
        """,
    )
    env = {**os.environ, "PYTHONPATH": python_path(), "NO_COLOR": "1", "CI": "true"}

    def start(n: int) -> subprocess.Popen[str]:
        argv = [sys.executable, "-m", "flowctl", "run", str(spec), "--no-progress"]
        argv += ["--state-dir", str(tmp_path / ".flowctl"), "--input", f"n={n}"]
        argv += ["--output", "json"]
        return subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    reports = []
    for _ in range(2):  # the first round races to fill the cache, the second reads it
        procs = [start(n % 2) for n in range(4)]
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            reports.append(json.loads(out))
    assert all(s["cached"] for r in reports[4:] for s in r["steps"])
    from flowctl.runner.engine.cache_lookup import step_cache_key
    from flowctl.spec.load import load_workflow

    wf = load_workflow(spec)
    with StepCache(cache_path(tmp_path / ".flowctl")) as cache:
        for n in range(2):
            hit = cache.get(step_cache_key(wf.steps[0], {"inputs": {"n": n}, "params": {}}))
            assert hit is not None and hit.outputs["value"] == str(n * n)
