"""examples/build through the CLI: no-op rerun, one-file change, a cache restore, optimize."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "build"
COMPILES = {
    f"cc_{n}"
    for n in [
        "add",
        "sub",
        "mul",
        "dbl",
        "sq",
        "neg",
        "abs",
        "max",
        "min",
        "mod",
        "inc",
        "sum",
        "main",
    ]
}
ALL = COMPILES | {"archive", "link", "smoke_test"}

pytestmark = pytest.mark.slow  # compiles C


def _flowctl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "true", "NO_COLOR": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "flowctl", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _run(cwd: Path) -> dict[str, dict[str, Any]]:
    done = _flowctl(cwd, "run", "build.yaml", "--output", "json", "--no-progress")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    return {s["id"]: s for s in report["steps"]}


def _ran(steps: dict[str, dict[str, Any]]) -> set[str]:
    return {sid for sid, s in steps.items() if not s["up_to_date"] and not s["cached"]}


@pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("ar") is None, reason="no gcc")
def test_the_build_example(tmp_path: Path) -> None:
    work = tmp_path / "build"
    shutil.copytree(EXAMPLE, work)

    assert _ran(_run(work)) == ALL
    program = work / "build" / "mini"
    assert subprocess.run([program], capture_output=True, text=True).stdout == "mini ok 103\n"

    # A no-op second run: every step is up to date and nothing is compiled.
    second = _run(work)
    assert _ran(second) == set()
    assert all(s["up_to_date"] and s["status"] == "completed" for s in second.values())

    # One changed file (its object changes, the result does not): one compile, then the
    # archive, the link and the smoke test; every other object is up to date.
    source = work / "src" / "m_sq.c"
    source.write_text(
        source.read_text().replace("return x * x;", "volatile int y = x; return y * y;")
    )
    assert _ran(_run(work)) == {"cc_sq", "archive", "link", "smoke_test"}

    # A deleted object comes back from the cache, byte for byte; nothing else runs.
    obj = work / "build" / "m_add.o"
    before = obj.read_bytes()
    obj.unlink()
    after_rm = _run(work)
    assert _ran(after_rm) == set()
    assert after_rm["cc_add"]["cached"] is True
    assert obj.read_bytes() == before
    assert all(s["up_to_date"] for sid, s in after_rm.items() if sid != "cc_add")

    # The dry run says so too.
    dry = _flowctl(work, "run", "build.yaml", "--dry-run")
    assert dry.returncode == 0
    assert dry.stdout.count("files: up to date") == len(ALL)

    # optimize on this history: no advice to drop a dependency that carries files, nor to
    # cache a step on its params.
    done = _flowctl(
        work, "optimize", ".flowctl/history.jsonl", "--spec", "build.yaml", "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    advice = json.loads(done.stdout)["recommendations"]
    removals = [c for r in advice for c in r["specific_changes"] if c["action"] == "remove"]
    assert removals == []
    assert not [r for r in advice if r["type"] == "caching"]
