"""Real runs through the engine, seen as CI lines and as the live table: a handled failure, a
cache hit on the second run, a circuit opening, a rollback with a failing action, a resume."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import cast

from rich.console import Console

from flowctl.api import RunResult, resume_workflow, run_workflow
from flowctl.progress import LiveProgress, PlainProgress
from flowctl.status import RunStatus

WORKFLOW = """\
name: shop
steps:
  - id: fetch
    run: echo fetched
    cache: {key: "fetch-v1"}
  - id: ocr
    dependencies: [fetch]
    run: 'echo "no text" >&2; exit 3'
    error_handlers: [human_review]
  - id: human_review
    run: echo reviewed
  - id: reserve
    dependencies: [ocr]
    run: echo reserved
    rollback_actions: [{run: 'true'}]
  - id: charge
    dependencies: [reserve]
    run: echo charged
    rollback_actions: [{run: 'true'}, {run: 'echo "refund refused" >&2; exit 5'}]
  - id: ship
    dependencies: [charge]
    run: 'exit 7'
    circuit_breaker: {name: carrier, failure_threshold: 1, reset_timeout: 1m}
"""


class Seen:
    """One session watched by both views at once, as `flowctl run` would show it."""

    def __init__(self) -> None:
        self.plain = PlainProgress(io.StringIO())
        self.terminal = Console(file=io.StringIO(), force_terminal=True, width=160, height=40)
        self.live = LiveProgress(self.terminal, refresh_per_second=30, appear_after=0)

    @property
    def lines(self) -> list[str]:
        text = cast(io.StringIO, self.plain.stream).getvalue()
        return [line[13:] for line in text.splitlines()]  # without the clock

    def last_frame(self) -> str:
        out = Console(file=io.StringIO(), width=160, force_terminal=False)
        out.print(self.live.render())
        return cast(io.StringIO, out.file).getvalue()


def run(spec: Path, state: Path) -> tuple[RunResult, Seen]:
    seen = Seen()
    result = run_workflow(spec, state_dir=state, observers=[seen.plain, seen.live], durable=False)
    seen.live.close()
    return result, seen


def test_handled_failure_cache_hit_circuit_and_rollback_as_lines_and_table(
    tmp_path: Path,
) -> None:
    spec = tmp_path / "shop.yaml"
    spec.write_text(WORKFLOW)
    state = tmp_path / "state"
    first, seen = run(spec, state)
    assert first.status is RunStatus.FAILED
    assert re.fullmatch(r"✓ fetch \d+\.\d\ds", seen.lines[2])

    second, seen = run(spec, state)
    assert second.status is RunStatus.FAILED
    lines = seen.lines
    assert "✓ fetch (cached)" in lines
    handled = (
        "✗ ocr failed (handled by its error handlers, the run goes on): "
        "command exited with code 3: no text"
    )
    assert handled in lines
    assert any(re.fullmatch(r"✓ human_review \d+\.\d\ds", line) for line in lines)
    assert "⚡ circuit 'carrier' open (step ship)" in lines
    rollback = lines[lines.index("↺ rolling back 2 steps: step 'ship' failed") :]
    assert sorted(rollback[1:3]) == [
        "↺ reserve undone",
        "✗ charge rollback action 2 failed: command exited with code 5: refund refused",
    ]
    assert rollback[3] == "✗ rollback finished: 1 action failed"
    assert rollback[4].startswith(f"● run {second.run_id} failed after ")
    assert [f.step for f in seen.plain.failures] == ["ship"]  # the handled one has no tail

    frame = seen.last_frame()
    assert "6/6 steps · 1 cached · 1 failed · 1 handled · 1 rolled back" in frame
    assert "⚡ circuit 'carrier' open (step ship)" in frame
    assert "↺ rollback of 2 steps finished · 1 undone · 1 action failed" in frame
    assert "✗ charge rollback action 2 failed: command exited with code 5: refund refused" in frame
    assert re.search(r"✓ fetch +completed .* cached", frame)
    assert re.search(r"✗ ocr +failed .* handled: command exited with code 3", frame)
    assert not seen.live._live.is_started

    seen = Seen()
    resumed = resume_workflow(
        second.run_id, state_dir=state, observers=[seen.plain, seen.live], durable=False
    )
    seen.live.close()
    assert resumed.status is RunStatus.FAILED
    lines = seen.lines
    assert lines[0] == f"● run {second.run_id} resumed: workflow shop, 6 steps in the file"
    # fetch, human_review and the handled ocr: one line; `reserve` was undone so it runs
    # again; `charge` (its rollback failed, so still completed) is restored after it.
    assert lines[1] == "✓ restored 3 steps from the journal: 2 completed, 1 failed (handled)"
    assert lines[2:5] == ["▶ reserve (attempt 1)", lines[3], "✓ charge (restored)"]
    assert "4 restored · 1 failed · 1 handled" in seen.last_frame()
