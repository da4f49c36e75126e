"""`validate --format github` (workflow-command annotations) and `--format sarif` (SARIF 2.1.0)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BROKEN = """\
name: broken
steps:
  - id: fetch
    retyr_policy: {max_attempts: 2}
    run: 'true'
  - id: after
    continue_on_failure: "yes"
    run: 'true'
"""
WARNS = """\
name: warns
steps:
  - id: a
    run: echo x=1 >> "$FLOWCTL_OUTPUT"
    output_mapping: {result.x: workflow.x}
"""


def validate(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "flowctl", "validate", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_github_annotations_point_at_each_problem(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(BROKEN)
    (tmp_path / "warns.yaml").write_text(WARNS)
    done = validate(tmp_path, "broken.yaml", "warns.yaml", "--format", "github")
    assert done.returncode == 2
    lines = done.stdout.splitlines()
    errors = [line for line in lines if line.startswith("::error ")]
    assert errors[0].startswith("::error file=broken.yaml,line=4,col=5,title=flowctl validate%3A ")
    assert "unknown key 'retyr_policy' in step 'fetch'" in errors[0]
    assert errors[1].startswith("::error file=broken.yaml,line=7,col=26,")
    assert "'continue_on_failure' must be true or false" in errors[1]
    (warning,) = [line for line in lines if line.startswith("::warning ")]
    assert warning.startswith("::warning file=warns.yaml,line=")
    assert lines[-2:] == ["broken.yaml: invalid (2 errors)", "warns.yaml: ok (1 step in the file)"]


def test_sarif_is_a_sarif_2_1_0_log_with_one_result_per_problem(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(BROKEN)
    (tmp_path / "warns.yaml").write_text(WARNS)
    done = validate(tmp_path, "broken.yaml", "warns.yaml", "--format", "sarif")
    assert done.returncode == 2, done.stderr
    log = json.loads(done.stdout)
    assert log["version"] == "2.1.0"
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "flowctl"
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    results = run["results"]
    assert [r["level"] for r in results] == ["error", "error", "warning"]
    first = results[0]
    assert rule_ids[first["ruleIndex"]] == first["ruleId"]
    assert "unknown key 'retyr_policy'" in first["message"]["text"]
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "broken.yaml", "uriBaseId": "SRCROOT"}
    assert location["region"] == {"startLine": 4, "startColumn": 5}
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == tmp_path.resolve().as_uri() + "/"


def test_a_valid_file_gives_an_empty_sarif_run(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text("name: ok\nsteps:\n  - {id: a, run: 'true'}\n")
    done = validate(tmp_path, "ok.yaml", "--format", "sarif")
    assert done.returncode == 0
    assert json.loads(done.stdout)["runs"][0]["results"] == []
