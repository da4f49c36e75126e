"""Loop labels through the CLI: iterations named `compile[lapi.c].cc` in every view and
report, ids by index in the journal, labels accepted by resume --from and --skip."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.e2e.kit import Workspace, cli_env
from tests.progress.test_tty import Terminal

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


FAILING_FILE_SPEC = """
name: failing-file
steps:
  - id: compile
    type: loop
    loop:
      for_each: ["lapi.c", "lcode.c", "ldo.c", "lzio.c"]
      as: src
      max_concurrency: 2
      steps:
        - id: cc
          # lapi.c is still compiling when lcode.c fails: fail-fast cancels it.
          run: 'echo "compiling $SRC"; if [ "$SRC" = lcode.c ]; then exit 1; fi; sleep 600'
          env:
            SRC: "{{ src }}"
        - id: archive
          dependencies: [cc]
          run: echo archived
  - id: link
    dependencies: [compile]
    run: echo link
"""
# A loop child named by index, not inside a log file's path (logs/compile[1].cc.log).
_BY_INDEX = re.compile(r"compile\[\d+\](?!\.cc\.log)")


def test_a_failing_file_is_named_by_its_label_in_every_text(ws: Workspace) -> None:
    spec = ws.spec(FAILING_FILE_SPEC)
    summary = ws.path("summary.md")
    page = ws.path("report.html")
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result = ws.run(spec, "--html-report", str(page), env=env)
    assert result.code == 1, result.explain()
    said = result.output
    assert not _BY_INDEX.findall(said), said
    assert "::group::compile[lcode.c].cc (failed" in said
    assert "compile[lapi.c].cc cancelled: iteration 'compile[lcode.c]' failed" in said, said
    assert not _BY_INDEX.findall(summary.read_text())
    run = result.run
    # The journal: ids by index, texts by label.
    (cancelled,) = run.named("step_cancelled", "compile[0].cc")
    assert cancelled.data["reason"] == "iteration 'compile[lcode.c]' failed"
    (skipped,) = run.named("step_skipped", "compile[1].archive")
    assert skipped.data["reason"] == "dependency 'compile[lcode.c].cc' failed"
    (loop_failed,) = run.named("step_failed", "compile")
    assert loop_failed.data["error"] == (
        "iteration 1 (lcode.c) failed: step 'compile[lcode.c].cc' failed: "
        "command exited with code 1"
    )
    finished = run.finished()
    assert finished.data["error"] == "step 'compile[lcode.c].cc' failed: command exited with code 1"
    texts = [
        str(e.data.get(key)) for e in run.events() for key in ("error", "reason") if key in e.data
    ]
    assert texts and not any(_BY_INDEX.search(text) for text in texts), texts
    # report.json: ids by index, each with its label; its texts by label.
    report = run.report()
    assert report["root_cause"] == "compile[1].cc"
    assert report["error"] == finished.data["error"]
    entries = {entry["id"]: entry for entry in report["steps"]}
    assert entries["compile[0].cc"]["label"] == "compile[lapi.c].cc"
    assert entries["compile[0].cc"]["reason"] == "iteration 'compile[lcode.c]' failed"
    # The HTML report's visible text (data-step attributes keep the stable ids).
    visible = re.sub(r'data-step="[^"]*"', "", page.read_text())
    assert not _BY_INDEX.findall(visible)
    assert "compile[lcode.c].cc" in visible
    # runs show, whole and one step by label or by index.
    shown = ws.cli("runs", "show", run.run_id)
    assert shown.code == 0, shown.explain()
    assert not _BY_INDEX.findall(shown.stdout), shown.stdout
    for name in ("compile[lcode.c].cc", "compile[1].cc"):
        one = ws.cli("runs", "show", run.run_id, name)
        assert one.code == 0, one.explain()
        rows = [line for line in one.stdout.splitlines() if line.startswith(("✗", "✓", "⊘"))]
        assert len(rows) == 1 and "compile[lcode.c].cc" in rows[0], one.stdout
        # One step shown: the end of its log too, under its label.
        log = one.stdout.split("log of compile[lcode.c].cc (last 20 lines at most):\n", 1)
        assert len(log) == 2 and log[1].startswith("  compiling lcode.c"), one.stdout
    loop = ws.cli("runs", "show", run.run_id, "compile")
    assert "compile[lapi.c].cc" in loop.stdout and "link" not in loop.stdout
    missing = ws.cli("runs", "show", run.run_id, "compile[lcod.c].cc")
    assert missing.code == 2
    assert "no step 'compile[lcod.c].cc'; did you mean compile[lcode.c].cc" in missing.stderr


def test_gitlab_sections_and_the_live_view_name_items_by_label(ws: Workspace) -> None:
    spec = ws.spec(FAILING_FILE_SPEC)
    result = ws.run(spec, "--show-output", "all", env={"GITLAB_CI": "true"})
    assert result.code == 1, result.explain()
    assert not _BY_INDEX.findall(result.output), result.output
    assert "\x1b[0Kcompile[lcode.c].cc (failed, " in result.output, result.output
    # The live view, on a real terminal.
    terminal = Terminal(
        [sys.executable, "-m", "flowctl", "run", str(spec), "--state-dir", str(ws.state)], ws.root
    )
    try:
        screen = terminal.read(timeout=60).decode("utf-8", "replace")
        assert terminal.proc.wait(timeout=30) == 1, screen
    finally:
        terminal.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    assert "compile[lcode.c].cc" in text and "compile[lapi.c].cc" in text, text
    assert not _BY_INDEX.findall(text), text


APPROVALS_SPEC = """
name: signing
steps:
  - id: docs
    type: loop
    loop:
      for_each: ["contract.pdf", "invoice.pdf"]
      max_concurrency: 2
      steps:
        - id: sign
          type: human_task
          approval: {message: "Sign it?"}
"""


def test_approve_accepts_a_label(ws: Workspace) -> None:
    spec = ws.spec(APPROVALS_SPEC)
    paused = ws.run(spec)
    assert paused.code == 4, paused.explain()
    run_id = paused.run.run_id
    for name in ("docs[contract.pdf].sign", "docs[1].sign"):
        decided = ws.cli("approve", run_id, name)
        assert decided.code == 0, decided.explain()
    assert [e.step for e in paused.run.named("approval_decided")] == [
        "docs[0].sign",
        "docs[1].sign",
    ]
    again = ws.cli("approve", run_id, "docs[contract.pdf].sign")
    assert again.code == 2 and "already approved" in again.stderr, again.explain()
    resumed = ws.resume(run_id)
    assert resumed.code == 0, resumed.explain()
