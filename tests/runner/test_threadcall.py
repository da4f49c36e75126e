"""Sync callables on worker threads (runner/calls/threadcall.py): what to_thread gave."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from pathlib import Path

import pytest

from flowctl.runner.calls.threadcall import MAX_WORKERS, call_in_thread
from tests.cli import run_flowctl

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


@pytest.mark.slow
def test_flowctl_exits_while_a_timed_out_sync_step_still_runs(tmp_path: Path) -> None:
    # The step's function never returns. The run must fail on its timeout and the process
    # end; with a thread flowctl waited for at exit, it would hang (run_flowctl's timeout
    # is only the guard against that).
    (tmp_path / "forever.py").write_text(
        "import threading\ndef block():\n    threading.Event().wait()\n"
    )
    (tmp_path / "flow.yaml").write_text(
        "name: forever\nsteps:\n  - id: s\n    python: forever:block\n    timeout: 0.2\n"
    )
    done = run_flowctl(
        "run", "--no-progress", "--state-dir", tmp_path / "state", "flow.yaml", cwd=tmp_path
    )
    assert done.returncode == 1, done.stderr
    assert "timed out after" in done.stdout + done.stderr
