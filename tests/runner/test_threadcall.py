"""Sync callables on worker threads (runner/calls/threadcall.py): what to_thread gave."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from flowctl.runner.calls.threadcall import MAX_WORKERS, call_in_thread

REQUEST = contextvars.ContextVar("REQUEST", default="none")


def test_the_value_comes_back_from_another_thread() -> None:
    async def main() -> tuple[int, int]:
        return await call_in_thread(threading.get_ident), threading.get_ident()

    worker, caller = asyncio.run(main())
    assert worker != caller


def test_an_exception_reaches_the_caller() -> None:
    def boom() -> None:
        raise SystemExit(3)  # even this: call_python turns it into a step failure

    async def main() -> None:
        await call_in_thread(boom)

    with pytest.raises(SystemExit) as raised:
        asyncio.run(main())
    assert raised.value.code == 3


def test_the_call_runs_in_a_copy_of_the_callers_context() -> None:
    def read_and_write() -> str:
        seen = REQUEST.get()
        REQUEST.set("changed in the thread")
        return seen

    async def main() -> tuple[str, str]:
        REQUEST.set("step a")
        seen = await call_in_thread(read_and_write)
        return seen, REQUEST.get()

    assert asyncio.run(main()) == ("step a", "step a")


def test_blocking_calls_run_side_by_side() -> None:
    # Each call waits until all of them are running at once; one at a time, they would
    # break the barrier (its timeout only guards against a hang).
    barrier = threading.Barrier(4, timeout=30)

    async def main() -> list[int]:
        return list(await asyncio.gather(*(call_in_thread(barrier.wait) for _ in range(4))))

    assert MAX_WORKERS >= 4
    assert sorted(asyncio.run(main())) == [0, 1, 2, 3]


def test_a_caller_that_stops_waiting_leaves_the_call_to_finish() -> None:
    release = threading.Event()
    finished = threading.Event()

    def slow() -> str:
        release.wait(30)
        finished.set()
        return "late"

    async def main() -> None:
        task = asyncio.ensure_future(call_in_thread(slow))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())  # returns without waiting for `slow`; its loop is closed now
    release.set()
    assert finished.wait(30)

    async def again() -> str:
        return await call_in_thread(lambda: "next")

    assert asyncio.run(again()) == "next"  # the worker is free for the next call
