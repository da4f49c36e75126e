"""Start-up stays light: `flowctl --help` and validating a file import no heavy library."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("jsonschema", "networkx", "jinja2", "httpx")

PROBE = """
import sys
from flowctl.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
print("HEAVY:" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""


def imported_by(*args: str, cwd: Path = REPO, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=heavy), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    marks = [line for line in done.stdout.splitlines() if line.startswith("HEAVY:")]
    assert len(marks) == 1, done.stdout
    return [m for m in marks[0].removeprefix("HEAVY:").split(",") if m]


# A run imports what its spec needs (issue 8): Jinja2 for templates, httpx for webhooks,
# jsonschema for inputs with a schema, tenacity for retries, the optimizer for its analysis.
RUN_HEAVY = (*HEAVY, "tenacity", "flowctl.optimize")
PLAIN_RUN = """\
name: plain
optimization_enabled: false
steps:
  - id: a
    run: /bin/true
  - id: b
    run: echo b >/dev/null
    dependencies: [a]
"""


def test_help_imports_none_of_the_heavy_libraries() -> None:
    assert imported_by("--help") == []


def test_validating_a_simple_file_imports_none_of_them_either() -> None:
    assert imported_by("validate", "examples/hello.yaml") == []


def test_running_a_plain_workflow_imports_none_of_them(tmp_path: Path) -> None:
    (tmp_path / "plain.yaml").write_text(PLAIN_RUN)
    assert imported_by("run", "plain.yaml", cwd=tmp_path, heavy=RUN_HEAVY) == []


def test_a_template_and_a_retry_bring_in_what_they_need(tmp_path: Path) -> None:
    templated = PLAIN_RUN.replace(
        "run: /bin/true", "run: echo {{ run.id }}\n    retry_policy: {max_attempts: 2}"
    )
    (tmp_path / "templated.yaml").write_text(templated)
    found = imported_by("run", "templated.yaml", cwd=tmp_path, heavy=RUN_HEAVY)
    assert found == ["jinja2", "tenacity"]


# What a run of plain shell steps never needs: each is imported by the first step or option
# that uses its feature (agents, rollback, resume, approvals, loops and fan-out, webhooks,
# waits, conditions, circuit breakers, the step cache, Python callables, remote executors).
FEATURE_MODULES = (
    "flowctl.runner.agents",
    "flowctl.runner.failure.saga",
    "flowctl.runner.failure.circuit",
    "flowctl.runner.resume",
    "flowctl.runner.approval",
    "flowctl.runner.steps.loop",
    "flowctl.runner.steps.parallel",
    "flowctl.runner.steps.webhook",
    "flowctl.runner.steps.wait",
    "flowctl.runner.steps.condition",
    "flowctl.runner.steps.human_task",
    "flowctl.runner.engine.cache_lookup",
    "flowctl.state.cache",
    "flowctl.runner.calls.pycall",
    "flowctl.runner.calls.threadcall",
    "flowctl.runner.executors.dask",
    "statistics",
)
# The `flowctl` command's own path (entry.py's parser for `run`, not typer's).
ENTRY_PROBE = """
import sys
from flowctl.entry import main
sys.argv = ["flowctl", *sys.argv[1:]]
try:
    main()
except SystemExit as exit:
    code = exit.code
print("EXIT:" + str(code))
print("LOADED:" + ",".join(
    m for m in {features!r} if any(n == m or n.startswith(m + ".") for n in sys.modules)
))
"""
SHELL_STEPS = """\
name: shell
steps:
  - id: a
    run: echo a >/dev/null
  - id: b
    run: echo b >/dev/null
    dependencies: [a]
  - id: c
    run: cp a.txt c.txt
    sources: [a.txt]
    generates: [c.txt]
    dependencies: [b]
"""


def features_loaded(*args: str, cwd: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", ENTRY_PROBE.format(features=FEATURE_MODULES), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FLOWCTL_STATE_DIR": str(cwd / "state")},
    )
    assert "EXIT:0" in done.stdout.splitlines(), done.stdout + done.stderr
    marks = [line for line in done.stdout.splitlines() if line.startswith("LOADED:")]
    assert len(marks) == 1, done.stdout
    return [m for m in marks[0].removeprefix("LOADED:").split(",") if m]


@pytest.mark.e2e
def test_a_run_of_shell_steps_imports_no_other_feature(tmp_path: Path) -> None:
    (tmp_path / "shell.yaml").write_text(SHELL_STEPS)
    (tmp_path / "a.txt").write_text("a\n")
    args = ("run", "shell.yaml", "--no-progress", "--output", "json")
    assert features_loaded(*args, cwd=tmp_path) == []
    # Again, with c up to date: skipping a step loads nothing more either.
    assert features_loaded(*args, cwd=tmp_path) == []


@pytest.mark.e2e
def test_the_features_a_run_uses_are_imported(tmp_path: Path) -> None:
    used = SHELL_STEPS.replace(
        "    run: echo b >/dev/null\n",
        "    python: os:getcwd\n"
        "    circuit_breaker: {name: disk}\n"
        "    rollback_actions:\n"
        "      - run: echo undo >/dev/null\n",
    )
    (tmp_path / "used.yaml").write_text(used)
    (tmp_path / "a.txt").write_text("a\n")
    loaded = features_loaded("run", "used.yaml", "--no-progress", cwd=tmp_path)
    assert loaded == [
        "flowctl.runner.failure.saga",
        "flowctl.runner.failure.circuit",
        "flowctl.runner.steps.webhook",  # the saga's `http:` rollback actions
        "flowctl.runner.calls.pycall",
        "flowctl.runner.calls.threadcall",
    ]
