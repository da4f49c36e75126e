"""The state directory is found like git finds .git: upwards, but never past the project."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowctl.state.locate import find_state_dir, search_path

REPO = Path(__file__).resolve().parents[2]


def test_the_walk_stops_at_the_git_root(tmp_path: Path) -> None:
    repo = tmp_path / "home" / "repo"
    deep = repo / "a" / "b"
    deep.mkdir(parents=True)
    (repo / ".git").mkdir()
    (tmp_path / "home" / ".flowctl").mkdir()  # above the repository: not ours
    search = search_path(deep, home=tmp_path / "home")
    assert search.looked_in == (deep, repo / "a", repo)
    assert search.stopped_at == "the git repository's root"
    assert find_state_dir(deep, environ={}, home=tmp_path / "home") is None
    (repo / ".flowctl").mkdir()
    assert find_state_dir(deep, environ={}, home=tmp_path / "home") == repo / ".flowctl"


def test_the_walk_stops_at_home_and_never_looks_in_a_shared_directory(tmp_path: Path) -> None:
    home = tmp_path / "home"
    work = home / "work"
    work.mkdir(parents=True)
    (tmp_path / ".flowctl").mkdir()  # a shared directory above home
    assert search_path(work, home=home).looked_in == (work, home)
    assert find_state_dir(work, environ={}, home=home) is None
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    search = search_path(outside, home=home)
    assert search.looked_in == (outside,)
    assert "only" in search.describe()


def test_the_environment_variable_wins(tmp_path: Path) -> None:
    assert find_state_dir(tmp_path, environ={"FLOWCTL_STATE_DIR": "/x/y"}) == Path("/x/y")


@pytest.mark.e2e
def test_commands_in_a_subdirectory_find_the_projects_runs(tmp_path: Path) -> None:
    project = tmp_path / "project"
    sub = project / "src" / "pkg"
    sub.mkdir(parents=True)
    (project / ".git").mkdir()
    spec = project / "wf.yaml"
    spec.write_text("name: w\nsteps:\n  - {id: a, run: 'true'}\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "HOME": str(tmp_path)}

    def flowctl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flowctl", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert flowctl(project, "run", "wf.yaml", "-q").returncode == 0
    listed = flowctl(sub, "runs")
    assert listed.returncode == 0 and " w " in listed.stdout, listed.stdout
    assert not (sub / ".flowctl").exists()
    empty = tmp_path / "other"
    empty.mkdir()
    missing = flowctl(empty, "runs", "show", "nope")
    assert missing.returncode == 2
    assert missing.stderr == (
        "error: no run 'nope': there are no runs in .flowctl/runs; looked for .flowctl in "
        f"{empty} and up to {tmp_path} (your home directory); use --state-dir or "
        "FLOWCTL_STATE_DIR\n"
    )
    env["FLOWCTL_STATE_DIR"] = str(project / ".flowctl")
    assert " w " in flowctl(empty, "runs").stdout
