"""`runs show` of a resumed run: every session, the decisions between them, the whole span."""

from __future__ import annotations

import re

from tests.e2e.kit import Workspace, q

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ"


def test_runs_show_tells_every_session_of_a_resumed_run(ws: Workspace) -> None:
    flag = ws.path("fixed")
    spec = ws.spec(
        f"""
        name: appr
        steps:
          - id: build
            run: 'true'
          - id: review
            type: human_task
            dependencies: [build]
          - id: ship
            dependencies: [review]
            run: 'test -f {q(flag)}'
        """
    )
    first = ws.run(spec)
    assert first.code == 4, first.explain()
    run_id = first.run.run_id
    assert ws.approve(run_id, "review", actor="ada").code == 0
    assert ws.resume(run_id).code == 1
    flag.write_text("")
    assert ws.resume(run_id).code == 0
    shown = ws.cli("runs", "show", run_id)
    assert shown.code == 0, shown.explain()
    lines = shown.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("sessions  "))
    history = [line[10:] for line in lines[start : start + 5]]
    expected = [
        rf"{STAMP} started, waiting approval after \d+\.\d\ds",
        rf"{STAMP} approved review by ada",
        rf"{STAMP} resumed, failed after \d+\.\d\ds",
        rf"{STAMP} resumed, completed after \d+\.\d\ds",
        rf"{STAMP} to {STAMP}: \d+\.\d\ds from the first start",
    ]
    for line, pattern in zip(history, expected, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)
    assert lines[start + 4].startswith("span      ")


def test_a_run_of_one_session_shows_no_history(ws: Workspace) -> None:
    spec = ws.spec("name: one\nsteps:\n  - {id: a, run: 'true'}\n")
    run = ws.run(spec)
    shown = ws.cli("runs", "show", run.run.run_id)
    assert "sessions" not in shown.stdout and "span" not in shown.stdout
