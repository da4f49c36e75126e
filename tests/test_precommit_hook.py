"""The `flowctl-validate` pre-commit hook, tried the way a user tries it: `pre-commit try-repo`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def test_the_hook_definition_runs_flowctl_validate_on_workflow_files() -> None:
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "flowctl-validate"
    assert hook["entry"] == "flowctl validate" and hook["language"] == "python"
    files, exclude = re.compile(hook["files"]), re.compile(hook["exclude"])

    def picked(path: str) -> bool:
        return bool(files.search(path)) and not exclude.search(path)

    assert picked("build.flow.yaml") and picked("ci/release.flowctl.yml")
    assert picked("flows/nightly.yaml")
    assert not picked(".github/workflows/ci.yml") and not picked("docker-compose.yaml")


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.mark.slow
def test_pre_commit_try_repo_fails_a_broken_workflow_and_passes_a_good_one(
    tmp_path: Path,
) -> None:
    pre_commit = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    if pre_commit is None:
        pytest.skip("pre-commit is not installed in this environment (pip install pre-commit)")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    project = tmp_path / "project"
    (project / "flows").mkdir(parents=True)
    _git(project, "init", "-q")
    good = project / "flows" / "good.yaml"
    good.write_text("name: good\nsteps:\n  - {id: a, run: 'true'}\n")
    bad = project / "flows" / "bad.yaml"
    bad.write_text("name: bad\nsteps:\n  - {id: a, run: 'true', retyr_policy: {}}\n")
    (project / "other.yaml").write_text("not: [a workflow\n")  # not picked by the hook
    _git(project, "add", ".")
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "cache"),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }

    def try_repo(*files: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [pre_commit, "try-repo", str(REPO), "flowctl-validate", "--files"]
            + [str(f.relative_to(project)) for f in files],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    failed = try_repo(good, bad, project / "other.yaml")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert re.search(
        r"flows/bad\.yaml:3:\d+: error: unknown key 'retyr_policy' in step 'a'", failed.stdout
    )
    assert "other.yaml" not in failed.stdout.split("flowctl validate", 1)[-1]
    passed = try_repo(good)
    assert passed.returncode == 0, passed.stdout + passed.stderr
