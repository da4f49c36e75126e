"""optimize knows agents: per-agent statistics, pool size, routing away, unused, adaptive."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowctl.optimize.agentreplay import replay_with_pools
from flowctl.optimize.report import ChangeAction, RecommendationType
from flowctl.state.records import AgentAttempt, RunRecord, StepRecord
from tests.optimize.kit import analyze, by_id, run, step, write

T = RecommendationType
AGENTS = {"slow": (("ocr",), 1), "bad": (("ocr",), 1), "idle": (("layout",), 1)}


def ocr_run(index: int, *, routing: str = "first_available") -> RunRecord:
    """Four pages in a loop on a pool-1 agent `slow` (0.1 s each, queued behind each
    other), after `bad` failed each first attempt of page 0 (0.05 s)."""
    pages: list[StepRecord] = []
    for page in range(4):
        tries = [AgentAttempt("slow", True, 0.1)]
        if page == 0:
            tries = [AgentAttempt("bad", False, 0.05), *tries]
        pages.append(
            step(
                f"pages[{page}].ocr",
                0.1 + (0.05 if page == 0 else 0.0),
                parent="pages",
                capability="ocr",
                agent="slow",
                agent_wait=0.1 * page,
                agent_attempts=tuple(tries),
            )
        )
    container = step("pages", 0.45, type="loop")
    return run(
        index,
        [*pages, container],
        duration=0.45,
        agents=AGENTS,
        routing=routing,
    )


def test_the_pool_replay_serialises_steps_on_one_agent() -> None:
    record = ocr_run(0)
    assert replay_with_pools(record, {"slow": 1, "bad": 1, "idle": 1}) == pytest.approx(0.45)
    assert replay_with_pools(record, {"slow": 2, "bad": 1, "idle": 1}) == pytest.approx(0.25)


def test_agent_advice_from_history(tmp_path: Path) -> None:
    records = [ocr_run(i) for i in range(12)]
    report = analyze(write(tmp_path / "h.jsonl", records))
    found = by_id(report)

    pool = found["concurrency:agent.slow"]
    assert pool.type is T.CONCURRENCY
    # 0.45 s with one slot; 0.25 s with two (page 0 is 0.15 s, the others 0.1 s).
    assert pool.expected_improvement == pytest.approx(100 * (0.45 - 0.25) / 0.45)
    (change,) = pool.specific_changes
    assert (change.key, change.value, change.current) == ("agents.slow.max_concurrency", 2, 1)

    away = found["routing:away.bad"]
    assert away.type is T.ROUTING
    assert away.evidence["success_rate"] == 0 and away.evidence["peer"] == "slow"
    (change,) = away.specific_changes
    assert (change.key, change.value) == ("routing", "adaptive")
    assert "routing:adaptive.ocr" not in found  # the same advice is not given twice

    unused = found["routing:unused.idle"]
    (change,) = unused.specific_changes
    assert (change.action, change.key, change.value) == (ChangeAction.REMOVE, "agents", "idle")

    stats = {a["agent"]: a for a in report.to_json()["agents"]}
    assert stats["slow"]["attempts"] == 48 and stats["slow"]["success_rate"] == 1.0
    assert stats["bad"]["attempts"] == 12 and stats["bad"]["success_rate"] == 0.0
    assert stats["slow"]["queue_wait_p95"] == pytest.approx(0.3)


def test_no_agent_advice_for_a_workflow_without_agents(tmp_path: Path) -> None:
    records = [run(i, [step("a", 1.0)]) for i in range(6)]
    report = analyze(write(tmp_path / "h.jsonl", records))
    assert not [r for r in report.recommendations if r.type is T.ROUTING]
    assert "agents" not in report.to_json()
