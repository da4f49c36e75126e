"""The one way tests run flowctl as a user would: `python -m flowctl ...` in a subprocess.

Also the polling helpers every subprocess test needs. Deadlines here are hang guards
(generous, seconds to minutes): a test's verdict never depends on how long something took.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 60.0  # a hang guard for one flowctl command


def python_path() -> str:
    """PYTHONPATH with the repository first, so `tests.*` modules resolve in python steps."""
    return os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)


def cli_env(extra: Mapping[str, str] | None = None, *, headless: bool = True) -> dict[str, str]:
    """The environment of a flowctl process: no colour, the repo importable, and (headless)
    CI=true with wide columns, as on a CI runner without a TTY."""
    env = {k: v for k, v in os.environ.items() if k not in ("FLOWCTL_DEBUG", "FORCE_COLOR")}
    env.update({"NO_COLOR": "1", "PYTHONPATH": python_path()})
    if headless:
        env.update({"CI": "true", "COLUMNS": "200"})
    env.update(extra or {})
    return env


def flowctl_argv(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "flowctl", *map(str, args)]


def run_flowctl(
    *args: str | Path,
    cwd: Path = REPO,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run `flowctl ARGS` to its end (stdin: the text given, else /dev/null)."""
    return subprocess.run(
        flowctl_argv(*args),
        cwd=cwd,
        env=dict(env) if env is not None else cli_env(),
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_for(
    what: str,
    predicate: Callable[[], bool],
    timeout: float = 30.0,
    proc: subprocess.Popen[str] | None = None,
) -> None:
    """Poll until `predicate()` holds; fail the test with `what` after `timeout` seconds
    (a hang guard), or as soon as `proc` (the command expected to make it hold) has exited."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None and not predicate():
            out, err = proc.communicate()
            raise AssertionError(f"flowctl exited {proc.returncode} before {what}\n{out}{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def process_gone(pid: int) -> bool:
    """True when `pid` no longer runs (a zombie nobody reaped yet counts as gone: nothing
    reaps orphans in some containers)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def gone(pid: int, within: float = 30.0) -> bool:
    """True once the process is gone (SIGKILL is delivered asynchronously), polling; False
    after `within` seconds, a hang guard."""
    deadline = time.monotonic() + within
    while not process_gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
