"""Start-up stays light: `flowctl --help` and validating a file import no heavy library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
