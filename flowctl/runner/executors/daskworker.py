"""What runs on a Dask worker: a command in its own process group, a python callable.

Standard library only, and sent to the workers by value (cloudpickle), so a worker needs
Dask but not flowctl. Results are plain dicts of plain values: they cross versions.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

CAPTURE_LIMIT = 1024 * 1024  # characters of each stream sent back (as the local runner keeps)
FILE_LIMIT = 16 * 1024 * 1024 + 1  # bytes of $FLOWCTL_OUTPUT / $FLOWCTL_METRICS sent back
STATE_ATTRIBUTE = "_flowctl_processes"
MAX_CANCELLED = 4096


class _Processes:
    """The process groups this worker runs for flowctl, so a kill request can find them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[str, int] = {}  # attempt token -> process group id
        # Killed before their process started (every worker hears of every kill, so the
        # oldest are dropped: a task not started by then has long been cancelled).
        self.cancelled: dict[str, None] = {}

    def cancel(self, token: str) -> None:
        self.cancelled[token] = None
        while len(self.cancelled) > MAX_CANCELLED:
            del self.cancelled[next(iter(self.cancelled))]


def _worker() -> Any:
    from distributed import get_worker

    return get_worker()


def _processes(worker: Any) -> _Processes:
    # On the Worker object, not in a module global: this module arrives by value with
    # every task, so its globals are not shared between tasks.
    state: _Processes = worker.__dict__.setdefault(STATE_ATTRIBUTE, _Processes())
    return state


def _tail(path: str, limit: int) -> tuple[str, bool]:
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - limit * 4))
        text = handle.read().decode("utf-8", errors="replace")
    if size > limit * 4 or len(text) > limit:
        return text[-limit:], True
    return text, False


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return handle.read(FILE_LIMIT).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None


def run_shell(
    token: str, argvs: Sequence[Sequence[str]], cwd: str, env: Mapping[str, str]
) -> dict[str, Any]:
    """Run the first argv that starts, in a new session, and wait for it.

    The group id is registered under `token` before the process can do anything, so
    `kill` finds it; a kill that came first stops it from starting at all.
    """
    worker = _worker()
    address = worker.address
    found: dict[str, Any] = {"worker": address, "host_pid": os.getpid()}
    if not Path(cwd).is_dir():
        return {**found, "error": f"working_dir {cwd!r} is not a directory on worker {address}"}
    processes = _processes(worker)
    scratch = tempfile.mkdtemp(prefix="flowctl-")
    try:
        full = dict(os.environ)
        full.update(env)
        full["FLOWCTL_OUTPUT"] = str(Path(scratch, "output"))
        full["FLOWCTL_METRICS"] = str(Path(scratch, "metrics"))
        full["FLOWCTL_WORKER"] = address
        out_path, err_path = str(Path(scratch, "stdout")), str(Path(scratch, "stderr"))
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            with processes.lock:
                if token in processes.cancelled:
                    del processes.cancelled[token]
                    return {**found, "cancelled": True}
                proc = None
                for index, argv in enumerate(argvs):
                    try:
                        proc = subprocess.Popen(
                            list(argv),
                            cwd=cwd,
                            env=full,
                            stdin=subprocess.DEVNULL,
                            stdout=out,
                            stderr=err,
                            start_new_session=True,
                        )
                        break
                    except (OSError, ValueError) as exc:
                        if index == len(argvs) - 1:
                            strerror = getattr(exc, "strerror", None) or str(exc)
                            kind = "value" if isinstance(exc, ValueError) else "os"
                            return {**found, "spawn_error": strerror, "spawn_kind": kind}
                assert proc is not None
                processes.running[token] = proc.pid
            try:
                returncode = proc.wait()
            finally:
                with processes.lock:
                    processes.running.pop(token, None)
        stdout, stdout_truncated = _tail(out_path, CAPTURE_LIMIT)
        stderr, stderr_truncated = _tail(err_path, CAPTURE_LIMIT)
        return {
            **found,
            "pid": proc.pid,
            "returncode": returncode,
            "stdout": stdout,
            "stderr": stderr,
            "stdout_truncated": stdout_truncated,
            "stderr_truncated": stderr_truncated,
            "output": _read(full["FLOWCTL_OUTPUT"]),
            "metrics": _read(full["FLOWCTL_METRICS"]),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


async def kill(token: str, grace: float, dask_worker: Any = None) -> dict[str, Any]:
    """SIGTERM the attempt's process group, SIGKILL it after `grace` seconds (Client.run);
    say whether this worker ran the attempt (its task key is the token).

    Runs on the worker's event loop, so it waits with asyncio, never blocking the worker.
    """
    processes = _processes(dask_worker)
    with processes.lock:
        pgid = processes.running.get(token)
        if pgid is None:
            processes.cancel(token)  # not started yet (or elsewhere): it never will here
    if pgid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _group_alive(pgid):
            await asyncio.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    task = getattr(getattr(dask_worker, "state", None), "tasks", {}).get(token)
    executing = task is not None and task.state in ("executing", "long-running")
    return {"worker": dask_worker.address, "pgid": pgid, "executing": executing}


def call_python(reference: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Import and call "package.module:function"; its exception becomes a plain message."""
    worker = _worker()
    found: dict[str, Any] = {"worker": worker.address, "pid": os.getpid()}
    module_name, _, attr_path = reference.strip().partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:
        return {
            **found,
            "import_error": f"python: cannot import {module_name!r} on worker "
            f"{worker.address}: {type(exc).__name__}: {exc}",
        }
    for part in attr_path.split("."):
        target = getattr(target, part, None)
    if not callable(target):
        return {**found, "import_error": f"python: {reference!r} is not a function on the worker"}
    try:
        value = target(**kwargs)
        if asyncio.iscoroutine(value):
            value = asyncio.run(value)
    except (Exception, SystemExit) as exc:
        return {
            **found,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": "".join(traceback.format_exception(exc)),
        }
    return {**found, "value": value}


def processing_on(key: str, dask_scheduler: Any = None) -> str | None:
    """The worker that runs task `key` now (Client.run_on_scheduler), or None."""
    task = dask_scheduler.tasks.get(key)
    if task is None or task.processing_on is None:
        return None
    address: str = task.processing_on.address
    return address


def worker_resources(dask_scheduler: Any = None) -> dict[str, dict[str, float]]:
    """Each connected worker's declared resources (Client.run_on_scheduler)."""
    return {address: dict(state.resources) for address, state in dask_scheduler.workers.items()}


def sees_file(path: str, content: str) -> bool:
    """Whether this worker reads `content` at `path` (Client.run): a shared filesystem."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read() == content
    except OSError:
        return False
