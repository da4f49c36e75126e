"""Start-up stays light: `flowctl --help` and validating a file import no heavy library."""

from __future__ import annotations

import json
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
FEATURES_PROBE = """
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


def features_loaded(*args: str, cwd: Path, modules: tuple[str, ...] = FEATURE_MODULES) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", FEATURES_PROBE.format(features=modules), *args],
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
def test_a_run_with_every_step_up_to_date_loads_no_archive_modules(tmp_path: Path) -> None:
    # shutil imports bz2 and lzma (3 ms); only running a shell step or removing a full
    # scratch directory needs it.
    (tmp_path / "files.yaml").write_text(
        "name: files\nsteps:\n  - id: c\n    run: cp a.txt c.txt\n"
        "    sources: [a.txt]\n    generates: [c.txt]\n"
    )
    (tmp_path / "a.txt").write_text("a\n")
    args = ("run", "files.yaml", "--no-progress", "--output", "json")
    archives = ("shutil", "bz2", "lzma")
    assert features_loaded(*args, cwd=tmp_path, modules=archives) == ["shutil", "bz2", "lzma"]
    assert features_loaded(*args, cwd=tmp_path, modules=archives) == []


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


# `flowctl run` as the console script starts it (the entry point's fast path, no typer),
# then the names of every module it imported, written to a file so that the run's own
# stdout and stderr stay as a user's pipe gets them.
ENTRY_PROBE = """
import os, sys
from flowctl.entry import main
sys.argv = ["flowctl", *sys.argv[1:]]
code = None
try:
    main()
except SystemExit as exc:
    code = exc.code
with open(os.environ["FLOWCTL_TEST_MODULES"], "w", encoding="utf-8") as f:
    f.write("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""
SECRET = "s3cret-value-never-shown"
FAILING_RUN = """\
name: piped
optimization_enabled: false
secrets: [FLOWCTL_TEST_TOKEN]
steps:
  - id: build
    run: echo "building with $FLOWCTL_TEST_TOKEN"
  - id: test
    run: 'printf "one\\ttab\\nno token: $FLOWCTL_TEST_TOKEN\\n" >&2; exit 3'
    dependencies: [build]
"""
# Variables that make Rich treat a pipe as a terminal, and CI variables the parent may have.
_TERMINAL_HINTS = (
    "FORCE_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "COLUMNS",
    "NO_COLOR",
    "CI",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "GITHUB_STEP_SUMMARY",
)


def piped_run(
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    spec: str = FAILING_RUN,
    exit_code: int = 1,
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """`flowctl run piped.yaml ARGS` with stdout and stderr pipes; its modules."""
    (tmp_path / "piped.yaml").write_text(spec)
    modules = tmp_path / "modules.txt"
    child_env = {k: v for k, v in os.environ.items() if k not in _TERMINAL_HINTS}
    child_env.update(
        FLOWCTL_TEST_MODULES=str(modules),
        FLOWCTL_TEST_TOKEN=SECRET,
        FLOWCTL_STATE_DIR=str(tmp_path / "state"),
        **(env or {}),
    )
    done = subprocess.run(
        [sys.executable, "-c", ENTRY_PROBE, "run", "piped.yaml", *args],
        cwd=tmp_path,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == exit_code, done.stderr
    return done, set(modules.read_text(encoding="utf-8").splitlines())


def rich_modules(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m == "rich" or m.startswith("rich."))


@pytest.mark.parametrize(
    ("args", "env"),
    [
        ((), {}),
        (("--no-progress", "--show-output", "all"), {}),
        ((), {"CI": "true"}),
        ((), {"CI": "true", "GITHUB_ACTIONS": "true"}),
    ],
    ids=["pipe", "no-progress-all-output", "ci", "github-actions"],
)
def test_a_piped_run_prints_everything_without_rich(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str]
) -> None:
    done, modules = piped_run(tmp_path, *args, env=env)
    assert rich_modules(modules) == []
    out = done.stdout
    # GitHub is told the secret, to mask it in every log line; nothing else shows it.
    shown = [line for line in out.splitlines() if not line.startswith("::add-mask::")]
    assert SECRET not in "\n".join(shown) + done.stderr
    assert " ✗ test failed: command exited with code 3" in out  # a progress line
    # The summary, cause first, then the failed step's log tail under its rule.
    assert "✗ piped failed in " in out
    assert "  root cause: step 'test' failed: command exited with code 3" in out
    if env.get("GITHUB_ACTIONS"):
        assert "::error file=piped.yaml,line=7,col=5," in out  # the annotation
    if env or "all" in args:
        assert "building with ***" in out  # the steps' output blocks
    else:
        tail = out[out.index("\ntest: last 2 lines of ") + 1 :].splitlines()
        assert len(tail[0]) == 100 and tail[0].endswith(" ─")  # a rule, 100 columns wide
        assert tail[1:] == ["one     tab", "no token: ***"]  # the tab expanded as Rich does


def test_a_json_report_with_piped_progress_imports_no_rich_either(tmp_path: Path) -> None:
    done, modules = piped_run(tmp_path, "--output", "json", env={"CI": "true"})
    assert rich_modules(modules) == []
    report = json.loads(done.stdout)
    assert report["status"] == "failed"
    assert "✗ test failed: " in done.stderr
    assert SECRET not in done.stdout + done.stderr


def test_a_mistake_in_the_file_is_reported_without_rich(tmp_path: Path) -> None:
    broken = FAILING_RUN.replace("dependencies: [build]", "dependencies: [biuld]")
    done, modules = piped_run(tmp_path, spec=broken, exit_code=2)
    assert rich_modules(modules) == []
    assert done.stderr == (
        "piped.yaml:9:5: error: step 'test' depends on unknown step 'biuld' "
        "(did you mean 'build'?) (at test)\n"
    )


def test_forced_colour_brings_rich_back(tmp_path: Path) -> None:
    # The probe's control: where Rich is asked to style a pipe, it does.
    done, modules = piped_run(tmp_path, env={"FORCE_COLOR": "1"})
    assert "rich.console" in modules
    assert "\x1b[" in done.stdout
