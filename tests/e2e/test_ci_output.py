"""Step output in the console and in CI logs: blocks, --quiet, GitHub Actions, GitLab CI."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.kit import Workspace

SECRET = "hunter2-very-secret"

SPEC = """
name: ci
secrets: [API_TOKEN]
steps:
  - id: warn
    run: |
      for i in 1 2 3; do echo "warn line $i"; sleep 0.02; done
      printf '\\033[91mERROR\\033[0m coloured\\n' >&2
      printf 'title\\033]0;owned\\007 clear\\033[2J done\\n'
      echo "token $API_TOKEN"
  - id: chatty
    run: |
      for i in 1 2 3; do echo "chatty line $i"; sleep 0.02; done
  - id: boom
    dependencies: [warn]
    run: 'echo "::add-mask::not-a-command"; echo "it broke" >&2; exit 3'
"""

ENV = {"API_TOKEN": SECRET, "NO_COLOR": ""}


def _blocks(out: str, start: str, end: str) -> dict[str, list[str]]:
    """Each step's block: the lines between its header and the end marker."""
    found: dict[str, list[str]] = {}
    current: str | None = None
    for line in out.splitlines():
        header = re.match(start, line)
        if header:
            current = header.group(1)
            found[current] = []
        elif current is not None and re.match(end, line):
            current = None
        elif current is not None:
            found[current].append(line)
    return found


def test_in_ci_every_step_output_is_one_block_masked_and_clean(ws: Workspace) -> None:
    result = ws.run(ws.spec(SPEC), "--keep-going", env=ENV)  # CI=true: --show-output all
    assert result.code == 1, result.explain()
    out = result.stdout
    blocks = _blocks(out, r"──── (\S+) \((\w+), [\d.]+s\) ────$", r"^\d\d:\d\d:\d\d|^[✗✓] ")
    assert blocks["chatty"] == ["chatty line 1", "chatty line 2", "chatty line 3"]
    # stdout and stderr are two pipes: their lines interleave as they were read.
    assert [line for line in blocks["warn"] if line.startswith("warn line")] == [
        "warn line 1",
        "warn line 2",
        "warn line 3",
    ]
    assert "ERROR coloured" in blocks["warn"]  # colour stripped off a terminal
    assert "title clear done" in blocks["warn"]  # title and clear-screen removed
    assert "token ***" in blocks["warn"] and SECRET not in out
    assert "it broke" in blocks["boom"]
    assert "\x1b" not in out and "\x07" not in out
    # The block came when its step finished: no tail repeats it after the summary.
    assert out.count("it broke") == 3  # the failure's line, its block, the summary
    assert "boom: last " not in out


def test_force_color_keeps_the_steps_colours(ws: Workspace) -> None:
    result = ws.run(ws.spec(SPEC), env={**ENV, "FORCE_COLOR": "1"})
    assert "\x1b[91mERROR\x1b[0m coloured" in result.stdout
    assert "\x1b]0;" not in result.stdout and "\x1b[2J" not in result.stdout


def test_show_output_failed_and_none(ws: Workspace) -> None:
    failed = ws.run(ws.spec(SPEC), "--show-output", "failed", "--keep-going", env=ENV)
    assert "──── boom (failed" in failed.stdout
    assert "──── warn (" not in failed.stdout and "chatty line" not in failed.stdout
    none = ws.run(ws.spec(SPEC), "--show-output", "none", env=ENV)
    assert "──── " not in none.stdout and "chatty line" not in none.stdout
    assert "✗ ci failed in " in none.stdout


def test_outside_ci_the_failed_tails_follow_the_summary(ws: Workspace) -> None:
    result = ws.run(ws.spec(SPEC), env={**ENV, "CI": ""})
    out = result.stdout
    assert "──── " not in out and "chatty line" not in out
    assert out.index("✗ ci failed in ") < out.index("boom: last 2 lines of ")


def test_quiet_prints_only_the_summary(ws: Workspace) -> None:
    result = ws.run(ws.spec(SPEC), "-q", env=ENV)
    assert result.code == 1
    assert result.stdout.startswith("✗ ci failed in "), result.stdout
    assert "warn line" not in result.stdout and "▶" not in result.stdout
    assert "it broke" in result.stdout  # once: the root cause


def test_bad_show_output_is_a_usage_error(ws: Workspace) -> None:
    result = ws.run(ws.spec(SPEC), "--show-output", "some", env=ENV)
    assert result.code == 2
    assert "'some' is not one of 'failed', 'all', 'none'" in result.stderr


def test_github_actions_groups_annotations_masks_and_step_summary(ws: Workspace) -> None:
    summary = ws.path("summary.md")
    summary.write_text("# earlier step\n")
    spec = ws.spec(SPEC)
    env = {**ENV, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    env["GITHUB_WORKSPACE"] = str(ws.root)
    result = ws.run(spec, "--keep-going", env=env)
    assert result.code == 1, result.explain()
    out = result.stdout
    lines = out.splitlines()
    # The secret is announced before anything else is printed: the one raw occurrence.
    assert lines[0] == f"::add-mask::{SECRET}"
    masks = [line for line in lines if line.startswith("::add-mask::") and "not-a" not in line]
    assert lines[: len(masks)] == masks  # every form of it (base64...) too, all first
    assert out.count(SECRET) == 1
    groups = _blocks(out, r"::group::(\S+) \((\w+), [\d.]+s\)$", r"::endgroup::")
    assert set(groups) == {"warn", "chatty", "boom"}
    body = groups["boom"]
    # Step output cannot issue workflow commands: they are stopped around it.
    token = body[0].removeprefix("::stop-commands::")
    assert re.fullmatch(r"[0-9a-f]{32}", token) and body[-1] == f"::{token}::"
    assert "::add-mask::not-a-command" in body
    error = next(line for line in lines if line.startswith("::error "))
    assert error == (
        "::error file=wf.yaml,line=13,col=5,title=flowctl%3A step boom failed::"
        "command exited with code 3: it broke"
    )
    text = summary.read_text()
    assert text.startswith("# earlier step\n## ❌ ci: failed in ")
    assert "3 step runs including loop items (3 steps in the file): " in text
    assert "| ❌ | `boom` | failed |" in text and "| ✅ | `chatty` | completed |" in text
    assert "### Failures\n\n**`boom`**: command exited with code 3: it broke" in text
    tail = text[text.index("```text\n", text.index("**`boom`**")) :]
    tail = tail[: tail.index("\n```\n")]
    assert sorted(tail.splitlines()[1:]) == ["::add-mask::not-a-command", "it broke"]
    # Which chain is longest depends on how fast the steps ran; either is a real chain.
    assert re.search(
        r"### Critical path\n\n(`warn` \([^)]*\) → `boom` \([^)]*\)|`chatty` \([^)]*\)): "
        r"[\d.]+s in all\n",
        text,
    )
    gantt = text[text.index("```mermaid\ngantt\n") :]
    assert re.search(r"\n    boom :crit, t\d, \d{13}, \d{13}\n", gantt)
    assert SECRET not in text
    assert len(text.encode()) < 1024 * 1024


def test_a_large_run_keeps_the_step_summary_under_one_mebibyte(tmp_path: Path) -> None:
    import time

    from flowctl.progress.ci_github import SUMMARY_LIMIT, step_summary
    from flowctl.runner.results import RunResult, StepResult
    from flowctl.spec.load import load_workflow_text
    from flowctl.spec.model import StepType
    from flowctl.status import RunStatus, StepStatus

    wf = load_workflow_text("name: big\nsteps:\n  - {id: a, run: 'true'}\n")
    now = time.time()
    steps = {
        f"loop[{i}].{'x' * 200}": StepResult(
            id=f"loop[{i}].{'x' * 200}",
            step_type=StepType.ACTION,
            status=StepStatus.COMPLETED,
            attempts=1,
            duration=i / 1000,
            started_at=now,
            finished_at=now + i / 1000,
        )
        for i in range(20_000)
    }
    result = RunResult(
        run_id="r",
        workflow="big",
        status=RunStatus.COMPLETED,
        steps=steps,
        data={},
        inputs={},
        started_at=now,
        finished_at=now + 20,
    )
    text = step_summary(result, wf)
    assert len(text.encode()) <= SUMMARY_LIMIT
    assert "The 300 longest of 20000 step runs" in text
    assert f"`loop[19999].{'x' * 200}`" in text  # the longest first


def test_gitlab_sections(ws: Workspace) -> None:
    result = ws.run(ws.spec(SPEC), env={**ENV, "GITLAB_CI": "true"})
    out = result.stdout  # text mode: the section lines' \r reads as a line break
    start = re.search(r"\x1b\[0Ksection_start:(\d+):boom\[collapsed=false\]\n\x1b\[0Kboom \(", out)
    end = re.search(r"\x1b\[0Ksection_end:(\d+):boom\n\x1b\[0K", out)
    assert start and end and start.end() < end.start()
    assert "it broke" in out[start.end() : end.start()]
    assert re.search(r"section_start:\d+:warn\[collapsed=true\]", out)
