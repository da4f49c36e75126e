"""Every example in examples/ runs, through the installed CLI, and does what its comments say."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli import REPO, cli_env, run_flowctl

EXAMPLES = REPO / "examples"


def flowctl(
    state: Path, *args: str, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = cli_env(env_extra) if env_extra else None
    return run_flowctl(*args, "--state-dir", state, env=env, timeout=120)


def run_json(state: Path, spec: str, *args: str) -> tuple[int, dict[str, Any]]:
    # No step output on stderr: a step's own traceback (the examples have failing
    # attempts on purpose) must not pass for flowctl's.
    done = flowctl(
        state, "run", spec, "--output", "json", "--no-progress", "--show-output", "none", *args
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def log_of(state: Path, result: dict[str, Any], step: str) -> str:
    return (state / "runs" / result["run_id"] / "logs" / f"{step}.log").read_text()


def test_every_example_is_covered_here() -> None:
    covered = {
        "hello.yaml",
        "document_processing.yaml",
        "orchestrator_worker.yaml",
        "react.yaml",
        "scale_out.yaml",
        "tomli_ci.yaml",
    }
    assert {p.name for p in EXAMPLES.glob("*.yaml")} == covered
    # examples/optimize/ is run by tests/optimize/test_example_history.py
    assert (EXAMPLES / "optimize" / "make_history.py").is_file()
    # examples/build/ is run by tests/files/test_example_build.py (it compiles C)
    assert (EXAMPLES / "build" / "build.yaml").is_file()


@pytest.mark.slow
def test_hello(tmp_path: Path) -> None:
    code, result = run_json(tmp_path, "examples/hello.yaml", "--input", "who=Ada Lovelace")
    assert code == 0 and result["status"] == "completed"
    assert log_of(tmp_path, result, "greet").strip() == "Hello, Ada Lovelace!"
    assert log_of(tmp_path, result, "report").strip() == "Ada Lovelace has 12 letters"


@pytest.mark.slow
def test_hello_passes_hostile_input_as_data(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    who = f"$(touch {marker}); touch {marker}"
    code, result = run_json(tmp_path, "examples/hello.yaml", "--input", f"who={who}")
    assert code == 0
    assert not marker.exists()
    assert log_of(tmp_path, result, "greet").strip() == f"Hello, {who}!"


@pytest.mark.slow
def test_document_processing_routes_an_invoice_and_publishes(tmp_path: Path) -> None:
    code, result = run_json(tmp_path, "examples/document_processing.yaml")
    assert code == 0, result["error"]
    steps = {s["id"]: s for s in result["steps"]}
    assert steps["invoice"]["status"] == "completed"
    assert steps["generic"]["status"] == "skipped"  # routed away by the condition
    assert steps["human_review"]["status"] == "skipped"  # error handler not triggered
    assert steps["quality"]["attempts"] == 2  # failed once, passed on retry
    assert [s for s in steps if s.startswith("pages[")] == [f"pages[{i}].analyze" for i in range(3)]
    assert result["workflow_data"]["doc"] == {
        "pages": 3,
        "type": "invoice",
        "total": 145.5,
        "quality": 1.0,
    }
    assert log_of(tmp_path, result, "publish").strip() == (
        "published invoice total=145.5 quality=1.0"
    )


@pytest.mark.slow
def test_document_processing_pauses_for_review_then_resumes_after_approval(
    tmp_path: Path,
) -> None:
    code, result = run_json(
        tmp_path, "examples/document_processing.yaml", "--input", "document=data/blurry_scan.txt"
    )
    assert code == 4 and result["status"] == "waiting_approval"
    run_id = result["run_id"]
    approved = flowctl(  # as a GitHub Actions job started by the listed approver
        tmp_path,
        "approve",
        run_id,
        "human_review",
        "--comment",
        "ok",
        env_extra={"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "data-team"},
    )
    assert approved.returncode == 0, approved.stderr
    resumed = flowctl(tmp_path, "resume", run_id, "--no-progress")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    publish = tmp_path / "runs" / run_id / "logs" / "publish.log"
    assert publish.read_text().strip() == "published invoice total=12.0 quality=reviewed"


@pytest.mark.slow
def test_orchestrator_worker_fans_out_one_worker_per_planned_task(tmp_path: Path) -> None:
    code, result = run_json(tmp_path, "examples/orchestrator_worker.yaml")
    assert code == 0
    workers = [s["id"] for s in result["steps"] if s["parent"] == "workers"]
    assert workers == [f"workers[{i}].work" for i in range(4)]
    assert result["workflow_data"]["answer"].startswith("Independent steps run in parallel")


@pytest.mark.slow
@pytest.mark.parametrize(("target", "iterations"), [(37, 3), (50, 1), (0, 6)])
def test_react_loop_reasons_and_acts_until_done(
    tmp_path: Path, target: int, iterations: int
) -> None:
    code, result = run_json(tmp_path, "examples/react.yaml", "--input", f"target={target}")
    assert code == 0
    assert result["workflow_data"]["search"]["low"] == target
    assert log_of(tmp_path, result, "answer").strip() == f"found {target} in {iterations} steps"


def test_scale_out_runs_locally_in_one_process(tmp_path: Path) -> None:
    # With --executor dask the same file runs on a cluster: tests/runner/test_dask_executor.py
    # and docs/scale-out.md. Here, the local executor: one process, no Dask worker.
    sys.path.insert(0, str(EXAMPLES))
    try:
        from scale_out_steps import crunch
    finally:
        sys.path.remove(str(EXAMPLES))
    expected = sum(crunch(seed, 1000)["checksum"] for seed in range(8)) % 2_147_483_648
    code, result = run_json(tmp_path, "examples/scale_out.yaml", "--input", "rounds=1000")
    assert code == 0 and result["status"] == "completed"
    assert log_of(tmp_path, result, "report").splitlines() == [
        f"checksum {expected} from 1 processes on 0 Dask workers",
        "this line ran on: flowctl's own host, no Dask worker",
    ]


def test_tomli_ci_keeps_going_and_lists_every_failure(tmp_path: Path) -> None:
    done = flowctl(tmp_path, "run", "examples/tomli_ci.yaml", "--no-progress", "--keep-going")
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(next((tmp_path / "runs").iterdir()).joinpath("report.json").read_text())
    steps = {s["id"]: s["status"] for s in report["steps"]}
    matrix = [f"tests[{i}].test" for i in range(6)]
    assert [steps[m] for m in matrix] == ["completed"] * 5 + ["failed"]
    assert steps["pre-commit"] == steps["build"] == "completed"
    assert steps["mypy"] == "failed"
    assert steps["coverage"] == steps["publish"] == "skipped"
    out = done.stdout
    assert "  2 independent failures:\n" in out
    assert "    step 'mypy' failed: command exited with code 1: src/tomli/_parser.py:101" in out
    # The matrix item is named by its label, the Python version (report.json keeps the index).
    failed = "    step 'tests[pypy3.10].test' failed: command exited with code 1: FAILED tests/"
    assert failed in out
