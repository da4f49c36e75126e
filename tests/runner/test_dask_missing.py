"""Without the `dask` extra, --executor dask stops at once (exit 2) saying what to install.

The absence is real: a sitecustomize in the child's PYTHONPATH puts a finder first on
sys.meta_path that refuses `dask` and `distributed`, as an environment without them would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # three flowctl processes: seconds

BLOCKER = """\
import sys


class _NoDask:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("dask", "distributed"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NoDask())
"""
SPEC = """\
name: hello
steps:
  - id: greet
    run: echo hello
"""
EXPECTED = (
    "--executor dask needs Dask's distributed scheduler, which is not installed "
    "(No module named 'distributed'): pip install 'flowctl[dask]'"
)


def _flowctl(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "blocker").mkdir(exist_ok=True)
    (tmp_path / "blocker" / "sitecustomize.py").write_text(BLOCKER)
    (tmp_path / "hello.yaml").write_text(SPEC)
    environ = {**os.environ, **(env or {}), "PYTHONPATH": str(tmp_path / "blocker")}
    return subprocess.run(
        [sys.executable, "-m", "flowctl", *args],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["run", "hello.yaml", "--executor", "dask"], {}),
        (["run", "hello.yaml"], {"FLOWCTL_EXECUTOR": "dask"}),
    ],
    ids=["option", "environment"],
)
def test_without_the_extra_dask_fails_at_once_saying_what_to_install(
    tmp_path: Path, args: list[str], env: dict[str, str]
) -> None:
    done = _flowctl(tmp_path, *args, env=env)
    assert done.returncode == 2
    assert done.stderr.strip().endswith(EXPECTED)
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr
    assert not (tmp_path / ".flowctl" / "runs").exists()  # nothing ran, nothing was left


def test_the_blocker_leaves_the_local_executor_working(tmp_path: Path) -> None:
    done = _flowctl(tmp_path, "run", "hello.yaml", "--no-progress")
    assert done.returncode == 0, done.stderr
