"""Loop labels through the CLI: iterations named `compile[lapi.c].cc` in every view and
report, ids by index in the journal, labels accepted by resume --from and --skip."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.e2e.kit import Workspace, cli_env

FILES_SPEC = """
name: labels
steps:
  - id: list
    run: 'cat files.json > "$FLOWCTL_OUTPUT"'
  - id: compile
    type: loop
    dependencies: [list]
    loop:
      for_each: steps.list.outputs.files
      as: src
      steps:
        - id: cc
          run: 'echo "compiling $SRC"'
          env:
            SRC: "{{ src }}"
"""

TEMPLATE_SPEC = """
name: templated
steps:
  - id: build
    type: loop
    loop:
      for_each: [{"name": "core"}, {"name": "cli"}, {"name": "web"}]
      label: "{{ item.name }}"
      steps:
        - id: make
          run: 'echo "making $NAME"; test "$NAME" != "$BAD"'
          env:
            NAME: "{{ item.name }}"
            BAD: "{{ workflow.bad }}"
variables:
  bad: cli
"""


def _validate(ws: Workspace, spec: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowctl", "validate", str(spec)],
        cwd=ws.root,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_default_labels_from_file_names_in_lines_summary_junit_and_runs_show(
    ws: Workspace,
) -> None:
    spec = ws.spec(FILES_SPEC)
    files = ["lapi.c", "lcode.c", "has space.c", "x.c", "x.c"]
    ws.path("files.json").write_text(json.dumps({"files": files}))
    junit = ws.path("junit.xml")
    result = ws.run(spec, "--junit", str(junit))
    assert result.code == 0, result.explain()
    # A plain name is its own label, a name with a space falls back to its index and
    # labels that collide get their index appended.
    shown = ["lapi.c", "lcode.c", "2", "x.c#3", "x.c#4"]
    for label in shown:
        assert f"compile[{label}].cc" in result.stderr + result.stdout, result.explain()
    assert "compile[0].cc" not in result.output
    # The journal keeps index-based ids and records the labels once.
    run = result.run
    assert run.steps_with("step_completed").count("compile[0].cc") == 1
    (labels,) = run.named("loop_labels", "compile")
    assert labels.data == {"labels": shown}
    assert run.outputs("compile")["labels"] == shown
    names = [case.get("name") for case in ET.parse(junit).getroot().iter("testcase")]
    assert [n for n in names if n and n.startswith("compile[")] == [
        f"compile[{label}].cc" for label in shown
    ]
    listing = ws.cli("runs", "show", run.run_id)
    assert listing.code == 0, listing.explain()
    for label in shown:
        assert f"compile[{label}].cc" in listing.stdout
    assert "compile[0].cc" not in listing.stdout


def test_templated_label_and_resume_from_a_label(ws: Workspace) -> None:
    spec = ws.spec(TEMPLATE_SPEC)
    checked = _validate(ws, spec)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    failed = ws.run(spec, "--keep-going")
    assert failed.code == 1, failed.explain()
    assert "build[cli].make failed" in failed.output
    assert "root cause: step 'build[cli].make' failed" in failed.output  # the summary
    assert failed.run.named("step_failed", "build[1].make")
    # The fix, then only the failed item runs again, named by its label.
    spec.write_text(spec.read_text().replace("bad: cli", "bad: none"))
    resumed = ws.resume(failed.run.run_id, "--from", "build[cli].make", "--force")
    assert resumed.code == 0, resumed.explain()
    assert resumed.run.steps_with("step_started").count("build[1].make") == 2
    assert resumed.run.steps_with("step_started").count("build[0].make") == 1
    assert "build[core].make (restored)" in resumed.output


def test_skip_accepts_a_label(ws: Workspace) -> None:
    spec = ws.spec(TEMPLATE_SPEC)
    failed = ws.run(spec)
    assert failed.code == 1, failed.explain()
    resumed = ws.resume(failed.run.run_id, "--skip", "build[cli].make")
    assert resumed.code == 0, resumed.explain()
    skipped = resumed.run.named("step_completed", "build[1].make")
    assert skipped and skipped[-1].data.get("skipped_by_user") is True


def test_a_label_reading_an_unknown_name_is_a_validate_error(ws: Workspace) -> None:
    spec = ws.spec(TEMPLATE_SPEC.replace('label: "{{ item.name }}"', 'label: "{{ itme.name }}"'))
    checked = _validate(ws, spec)
    said = checked.stdout + checked.stderr
    assert checked.returncode == 2, said
    assert "wf.yaml:7:" in said and "itme" in said and "Traceback" not in said


def test_labels_in_report_json_html_report_and_github_groups(ws: Workspace) -> None:
    spec = ws.spec(TEMPLATE_SPEC.replace("bad: cli", "bad: none"))
    summary = ws.path("summary.md")
    page = ws.path("report.html")
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result = ws.run(spec, "--html-report", str(page), "--show-output", "all", env=env)
    assert result.code == 0, result.explain()
    report = {entry["id"]: entry for entry in result.run.report()["steps"]}
    assert report["build[1].make"]["label"] == "build[cli].make"
    assert report["build"]["label"] == "build"
    text = page.read_text()
    assert "<td>build[cli].make</td>" in text
    assert 'data-step="build[1].make"' in text  # the stable id stays the key
    groups = [line for line in result.output.splitlines() if line.startswith("::group::")]
    assert any(line.startswith("::group::build[cli].make ") for line in groups), groups
