"""What a run does once per step or event, made cheaper (issue 8), writes what it wrote:
timestamps, clock lines, digests, labels, python-call checks, the optimizer's early import."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flowctl.progress import labels
from flowctl.progress.format import clock
from flowctl.runner import analysis
from flowctl.runner.calls.pycall import PythonRefError, resolve
from flowctl.runner.engine.rundata import sha256_json
from flowctl.runner.record.journal import iso
from flowctl.runner.session import run_to_end
from flowctl.spec.load import load_workflow_text
from flowctl.state.audit import format_utc, utc_timestamp
from tests.runner.sched_kit import FUNCS, run_spec


def datetime_iso(ts: float) -> str:
    """How the journal, the history and report.json wrote times before format_utc."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def test_format_utc_writes_what_datetime_wrote() -> None:
    rng = random.Random(8)
    edges = [0.0, 0.5, 1.0000005, 1.9999995, 1.9999999, 1_000_000_000.9999996]
    halves = [1_700_000_000 + (2 * k + 1) * 5e-7 for k in range(2_000)]  # exact ties
    spread = [rng.uniform(0, 4e9) for _ in range(20_000)]
    now = [time.time() + k * 1e-7 for k in range(2_000)]
    for ts in [*edges, *halves, *spread, *now]:
        assert format_utc(ts) == datetime_iso(ts), ts
        assert iso(ts) == datetime_iso(ts)


def test_format_utc_outside_the_common_years_takes_the_general_path() -> None:
    assert format_utc(-1.5) == datetime.fromtimestamp(-1.5, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_utc_timestamp_of_a_given_moment_and_of_now() -> None:
    moment = datetime(2026, 11, 25, 16, 34, 0, 123456, tzinfo=UTC)
    assert utc_timestamp(moment) == "2026-11-25T16:34:00.123456Z"
    before = time.time()
    now = datetime.fromisoformat(utc_timestamp().replace("Z", "+00:00")).timestamp()
    assert before - 1e-6 <= now <= time.time() + 1e-6


def test_clock_follows_a_change_of_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    ts = 1_700_000_000.25  # 2023-11-14 22:13:20 UTC
    try:
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()
        assert clock(ts) == "22:13:20.250"
        assert clock(ts + 0.5) == "22:13:20.750"  # the same second, from the cache
        monkeypatch.setenv("TZ", "Asia/Tokyo")
        time.tzset()
        assert clock(ts) == "07:13:20.250"
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("value", [{}, {"b": [1, 2.5], "a": "é"}, [], "x", None, {"p": Path("x")}])
def test_the_outputs_digest_is_the_canonical_json_digest(value: Any) -> None:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    assert sha256_json(value) == hashlib.sha256(text.encode()).hexdigest()


def test_a_run_without_loop_iterations_reads_no_journal_for_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_spec(tmp_path, f"name: plain\nsteps:\n  - id: a\n    python: {FUNCS}:noop\n")
    read: list[Path] = []

    def journal_labels(audit: Path) -> dict[str, list[str]]:
        read.append(audit)
        return {}

    monkeypatch.setattr(labels, "journal_labels", journal_labels)
    assert labels.labelled_result(result) is result
    assert read == []
    looped = result.steps["a"]
    with_loop = type(result)(**{**vars_of(result), "steps": {"l[0].x": looped}})
    labels.labelled_result(with_loop)
    assert result.paths is not None and read == [result.paths.audit]


def vars_of(result: Any) -> dict[str, Any]:
    return {name: getattr(result, name) for name in result.__struct_fields__}


def test_a_callable_that_takes_no_params_is_checked_once() -> None:
    target = resolve(f"{FUNCS}:noop")
    assert target.binds_empty
    target.check_params({})
    with pytest.raises(PythonRefError, match="cannot be called with params"):
        target.check_params({"surprise": 1})
    needs = resolve("os.path:join")  # join(a, *p): `a` is required
    assert not needs.binds_empty
    with pytest.raises(PythonRefError):
        needs.check_params({})


def small_workflow(steps: int, *, optimize: bool = True) -> Any:
    lines = ["name: w", f"optimization_enabled: {str(optimize).lower()}", "steps:"]
    lines += [f"  - id: s{i}\n    python: {FUNCS}:noop" for i in range(steps)]
    return load_workflow_text("\n".join(lines) + "\n")


def test_the_optimizer_is_imported_early_only_when_the_analysis_will_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A module nothing else imports stands in for the optimizer.
    monkeypatch.setattr(analysis, "_ANALYZE", "colorsys")
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    history = tmp_path / "history.jsonl"

    async def prepare(wf: Any) -> analysis.Preparation | None:
        return analysis.prepare_analysis(wf, history)

    assert asyncio.run(prepare(small_workflow(3))) is None  # no history yet
    history.write_text("")
    assert asyncio.run(prepare(small_workflow(3, optimize=False))) is None

    async def small() -> threading.Thread | None:
        preparation = analysis.prepare_analysis(small_workflow(3), history)
        assert preparation is not None and preparation.delay == 0
        return preparation.stop()  # begun at once: stop no longer matters

    thread = asyncio.run(small())
    assert thread is not None
    thread.join()
    assert "colorsys" in sys.modules
    assert asyncio.run(prepare(small_workflow(3))) is None  # already there


def test_a_big_workflows_optimizer_import_waits_for_a_run_long_enough(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(analysis, "_ANALYZE", "colorsys")
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    history = tmp_path / "history.jsonl"
    history.write_text("")

    async def short_run() -> tuple[float, threading.Thread | None]:
        preparation = analysis.prepare_analysis(small_workflow(1_000), history)
        assert preparation is not None
        return preparation.delay, preparation.stop()  # the run ended before the delay

    delay, thread = asyncio.run(short_run())
    # 1,000 steps: 40 ms + 100 ms of analysis fit 5% of a run a little over 2.8 s.
    fixed = analysis.IMPORT_SECONDS + 1_000 * analysis.STEP_SECONDS
    assert fixed / analysis.BUDGET_SHARE < delay < 1.1 * fixed / analysis.BUDGET_SHARE
    assert analysis.plan_analysis(1_000, 0, delay, imported=False).skip is None
    assert thread is None
    assert "colorsys" not in sys.modules


def test_run_to_end_gives_back_the_coroutines_value() -> None:
    async def answer() -> dict[str, int]:
        return {"n": 42}

    assert run_to_end(answer()) == {"n": 42}
