"""examples/agents: the workflow runs on its agents, and the committed history tells the
story README.md walks through (fast_ocr starts failing; routing moves away from it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "agents"
OUTAGE_FROM = 12  # as ocr_agents.py
STALE = "regenerate with examples/agents/make_history.py and update README.md"


def flowctl(*args: str, state: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "true", "NO_COLOR": "1", "COLUMNS": "200"}
    tail = ["--state-dir", str(state)] if state is not None else []
    return subprocess.run(
        [sys.executable, "-m", "flowctl", *args, *tail],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def firsts(record: dict[str, Any]) -> Counter[str]:
    return Counter(
        s["agent_attempts"][0][0]
        for s in record["steps"]
        if s.get("capability") == "ocr" and s.get("agent_attempts")
    )


def test_the_example_runs_and_fails_over_from_the_broken_agent(tmp_path: Path) -> None:
    spec = "examples/agents/ocr_pipeline.yaml"
    done = flowctl("run", spec, "--input", "batch=13", "--output", "json", state=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "completed"
    report = json.loads((tmp_path / "runs" / result["run_id"] / "report.json").read_text())
    pages = [s for s in report["steps"] if s.get("capability") == "ocr"]
    assert len(pages) == 6 and all(s["status"] == "completed" for s in pages)
    # Batch 13: fast_ocr fails every page but the 7th (13 + 7 = 20): each fails over.
    for step in pages:
        agents = [a[0] for a in step["agent_attempts"]]
        if agents[0] == "fast_ocr":
            assert agents == ["fast_ocr", "accurate_ocr"], step
            assert step["agent"] == "accurate_ocr"


def test_the_committed_history_shows_routing_moving_away() -> None:
    lines = (EXAMPLE / "history.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 30, STALE
    before = sum((firsts(r) for r in records[:OUTAGE_FROM]), Counter())
    last = sum((firsts(r) for r in records[-5:]), Counter())
    assert before["fast_ocr"] > 6 * before["accurate_ocr"], STALE
    assert last == Counter({"accurate_ocr": 30}), STALE
    listed = flowctl(
        "agents", "examples/agents/ocr_pipeline.yaml", "--history", "examples/agents/history.jsonl"
    )
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [
        "agent",
        "fast_ocr",
        "accurate_ocr",
        "layout",
    ]
    advice = flowctl(
        "optimize",
        "examples/agents/history.jsonl",
        "--spec",
        "examples/agents/ocr_pipeline.yaml",
        "--format",
        "json",
    )
    assert advice.returncode == 0, advice.stderr
    ids = {r["id"] for r in json.loads(advice.stdout)["recommendations"]}
    assert {"concurrency:agent.accurate_ocr", "routing:away.fast_ocr"} <= ids, STALE
