"""The runner's side of `cache:`: keys bound to the step, hits across runs, ttl, off-loop I/O."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from flowctl.errors import Location, StateError
from flowctl.runner.engine.cache_lookup import cache_path, lookup, step_cache_key, store
from flowctl.runner.steps.base import FailureKind, StepFailure
from flowctl.secrets import SecretMasker
from flowctl.spec.model import CacheSpec
from flowctl.state.cache import StepCache
from tests.runner.helpers import shell_step

STEP = shell_step(
    "make report MONTH={{ params.month }}",
    id="report",
    cache=CacheSpec(key="report-{{ params.month }}-{{ workflow.region }}", ttl=None),
)


def names(month: str = "2030-01", region: str = "eu") -> dict[str, Any]:
    return {"params": {"month": month}, "workflow": {"region": region}, "steps": {}}


def test_the_key_follows_the_rendered_template() -> None:
    key = step_cache_key(STEP, names())
    assert len(key) == 64 and int(key, 16) >= 0
    assert step_cache_key(STEP, names()) == key
    assert step_cache_key(STEP, names(month="2030-02")) != key
    assert step_cache_key(STEP, names(region="us")) != key


def test_the_key_is_bound_to_what_the_step_does_not_where_it_is() -> None:
    key = step_cache_key(STEP, names())
    moved = msgspec.structs.replace(
        STEP, location=Location("other.yaml", 40, 3), name="Monthly report", description="x"
    )
    assert step_cache_key(moved, names()) == key
    assert STEP.command is not None
    changed = msgspec.structs.replace(
        STEP, command=msgspec.structs.replace(STEP.command, run="make report-v2")
    )
    assert step_cache_key(changed, names()) != key
    retimed = msgspec.structs.replace(STEP, timeout=10.0)
    assert step_cache_key(retimed, names()) != key


def test_a_literal_key_needs_no_names() -> None:
    step = shell_step("true", id="fixed", cache=CacheSpec(key="v1"))
    assert step_cache_key(step, {}) == step_cache_key(step, names())


def test_a_failing_key_template_fails_the_step_without_retry() -> None:
    step = shell_step("true", id="k", cache=CacheSpec(key="{{ params.missing }}"))
    with pytest.raises(StepFailure) as info:
        step_cache_key(step, names())
    assert info.value.kind is FailureKind.EXPRESSION
    assert info.value.retryable is False
    assert info.value.message.startswith("cache.key: ")
    assert "missing" in info.value.message


def test_a_step_without_cache_has_no_key() -> None:
    with pytest.raises(ValueError, match="'plain' has no cache key"):
        step_cache_key(shell_step("true", id="plain"), {})


def test_a_result_stored_by_one_run_is_a_hit_in_the_next(tmp_path: Path) -> None:
    key = step_cache_key(STEP, names())
    outputs = {"exit_code": 0, "stdout": "done", "rows": [1, 2, 3]}

    async def first_run() -> None:
        with StepCache(cache_path(tmp_path)) as cache:
            assert await lookup(cache, key) is None
            await store(cache, key, outputs, None, "run-1")

    async def second_run() -> tuple[Any, Any]:
        with StepCache(cache_path(tmp_path)) as cache:
            hit = await lookup(cache, key)
            other = await lookup(cache, step_cache_key(STEP, names(month="2030-02")))
            return hit, other

    asyncio.run(first_run())
    hit, other = asyncio.run(second_run())
    assert hit is not None
    assert hit.outputs == outputs
    assert hit.run_id == "run-1"
    assert hit.stored_at <= time.time()
    assert other is None


def test_entries_expire_after_their_ttl(tmp_path: Path) -> None:
    async def scenario() -> tuple[bool, bool]:
        with StepCache(cache_path(tmp_path)) as cache:
            await store(cache, "k", {"v": 1}, 0.2, "run-1")
            fresh = await lookup(cache, "k") is not None
            await asyncio.sleep(0.3)
            return fresh, await lookup(cache, "k") is None

    assert asyncio.run(scenario()) == (True, True)


def test_secrets_in_outputs_are_masked_before_they_are_stored(tmp_path: Path) -> None:
    masker = SecretMasker(["hunter2-token"])

    async def scenario() -> Any:
        with StepCache(cache_path(tmp_path), masker=masker) as cache:
            await store(cache, "k", {"stdout": "token=hunter2-token"}, None, "r")
            return await lookup(cache, "k")

    hit = asyncio.run(scenario())
    assert hit.outputs == {"stdout": "token=***"}
    assert b"hunter2" not in cache_path(tmp_path).read_bytes()


def test_outputs_that_are_not_json_are_a_state_error(tmp_path: Path) -> None:
    async def scenario() -> None:
        with StepCache(cache_path(tmp_path)) as cache:
            await store(cache, "k", {"when": {1, 2}}, None, "r")

    with pytest.raises(StateError, match="cannot cache step outputs that are not JSON"):
        asyncio.run(scenario())


def test_a_busy_cache_never_stalls_the_event_loop(tmp_path: Path) -> None:
    """Another process's write transaction holds the database: the store waits on a worker
    thread while the loop keeps running other steps."""
    path = cache_path(tmp_path)
    with StepCache(path) as cache:
        cache.get("warm-up")  # creates the database in WAL mode
    locked, release = threading.Event(), threading.Event()

    def other_writer() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(5)
        time.sleep(0.3)
        conn.execute("COMMIT")
        conn.close()

    holder = threading.Thread(target=other_writer)
    holder.start()
    locked.wait(5)

    async def scenario() -> tuple[int, float]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        started = time.monotonic()
        with StepCache(path) as cache:
            release.set()
            await store(cache, "k", {"v": 1}, None, "r")
            elapsed = time.monotonic() - started
            assert (await lookup(cache, "k")) is not None
        task.cancel()
        return ticks, elapsed

    ticks, elapsed = asyncio.run(scenario())
    holder.join()
    assert elapsed >= 0.3  # it really waited for the other writer (a lower bound: safe)
    assert ticks >= 1  # and the loop ran meanwhile (a 10 ms timer fired during the wait)


def test_cache_path() -> None:
    assert cache_path(Path("/state")) == Path("/state/cache.db")
