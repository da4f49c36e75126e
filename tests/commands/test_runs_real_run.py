"""A real run through the engine, then everything H7 shows about it: lines, table, runs, JUnit."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import cast

from rich.console import Console

from flowctl.api import run_workflow
from flowctl.commands.runs import list_runs, show_run
from flowctl.junit import step_reports, write_junit
from flowctl.progress import LiveProgress, PlainProgress, print_failure_tails
from flowctl.state.runs import RunState, load_run_steps
from flowctl.status import RunStatus, StepStatus

WORKFLOW = """\
name: docs
steps:
  - id: extract
    run: echo extracting
  - id: ocr
    dependencies: [extract]
    run: |
      for i in $(seq 1 30); do echo "ocr line $i"; done
      echo "fatal: no text" >&2
      exit 3
    retry_policy: {max_attempts: 2, delay: 0.01}
  - id: review
    dependencies: [ocr]
    run: echo review
  - id: each
    type: loop
    loop:
      for_each: [1, 2]
      steps:
        - id: body
          run: echo "item {{ item }}"
"""


def output(console: Console) -> str:
    return cast(io.StringIO, console.file).getvalue()


def test_a_failed_run_as_ci_and_a_person_see_it(tmp_path: Path) -> None:
    spec = tmp_path / "wf.yaml"
    spec.write_text(WORKFLOW)
    state = tmp_path / "state"
    plain_out = io.StringIO()
    plain = PlainProgress(plain_out)
    terminal = Console(file=io.StringIO(), force_terminal=True, width=100)
    live = LiveProgress(terminal, refresh_per_second=30)
    result = run_workflow(spec, state_dir=state, observers=[plain, live], durable=False)
    live.close()
    assert result.status is RunStatus.FAILED

    lines = [line[13:] for line in plain_out.getvalue().splitlines()]  # drop the clock
    assert lines[0].startswith("● run ") and lines[0].endswith(
        "started: workflow docs, 5 steps in the file"
    )
    assert "✓ each[1].body" in "\n".join(lines)
    assert any(re.fullmatch(r"↻ ocr retrying in 0\.0s: .*fatal: no text", ln) for ln in lines)
    assert any(re.fullmatch(r"✗ ocr failed: .*fatal: no text \(2 attempts\)", ln) for ln in lines)
    assert "⏭ review skipped: dependency 'ocr' failed" in lines
    assert lines[-1].startswith(f"● run {result.run_id} failed after ")

    frame = output(terminal)
    assert "6/6 steps · 1 failed · 1 skipped" in frame
    assert not live._live.is_started

    tails = Console(file=io.StringIO(), width=100)
    assert print_failure_tails(plain.failures, tails, root_cause=result.root_cause) == 1
    tail_lines = output(tails).splitlines()
    assert tail_lines[0].startswith("ocr: last 20 lines of ")
    assert tail_lines[-1] == "fatal: no text"

    run, steps = load_run_steps(state / "runs" / result.run_id)
    assert (run.status, run.workflow) == (RunState.FAILED, "docs")
    by_id = {s.id: s for s in steps}
    assert set(by_id) == {"extract", "ocr", "review", "each", "each[0].body", "each[1].body"}
    assert (by_id["ocr"].status, by_id["ocr"].attempts) == (StepStatus.FAILED, 2)
    assert by_id["review"].note == "dependency 'ocr' failed"

    listing = Console(file=io.StringIO(), width=100)
    list_runs(state, console=listing)
    assert re.search(rf"{result.run_id}\s+docs\s+failed", output(listing))
    shown = Console(file=io.StringIO(), width=100)
    show_run(state, result.run_id[:20], console=shown)
    assert re.search(r"✗\s+ocr\s+failed\s+2\s", output(shown))

    junit = tmp_path / "junit.xml"
    write_junit(junit, result.run_id, result.workflow, step_reports(result.steps.values()))
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("6", "1", "1")
    assert (root.get("tests"), root.get("failures")) == ("6", "1")
    failure = root.find("testsuite/testcase[@name='ocr']/failure")
    assert failure is not None and (failure.text or "").endswith("ocr line 30\nfatal: no text")
