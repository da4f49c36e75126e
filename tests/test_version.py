"""The version is defined once (pyproject.toml) and `flowctl --version` prints it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import flowctl

ROOT = Path(__file__).resolve().parent.parent


def test_the_installed_version_is_pyprojects() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert version("flowctl") == declared["project"]["version"]
    assert flowctl.version() == declared["project"]["version"]
    assert flowctl.__version__ == flowctl.version()


def test_flowctl_version_prints_it_and_exits_0() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flowctl", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, f"flowctl {version('flowctl')}\n", "")
