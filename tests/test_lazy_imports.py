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


def imported_by(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    marks = [line for line in done.stdout.splitlines() if line.startswith("HEAVY:")]
    assert len(marks) == 1, done.stdout
    return [m for m in marks[0].removeprefix("HEAVY:").split(",") if m]


def test_help_imports_none_of_the_heavy_libraries() -> None:
    assert imported_by("--help") == []


def test_validating_a_simple_file_imports_none_of_them_either() -> None:
    assert imported_by("validate", "examples/hello.yaml") == []
