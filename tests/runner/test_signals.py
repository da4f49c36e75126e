"""SIGINT/SIGTERM handling, with real signals sent to a real asyncio program."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from flowctl.runner.signals import SignalController

# A miniature run: one long step, cancelled on the first signal, then a "rollback" that a
# second signal abandons. Modes: "normal", or "stuck" (ignores on_force, as a hung flowctl).
PROGRAM = r"""
import asyncio, signal, sys
from flowctl.runner.signals import SignalController

async def main(mode, rollback_seconds):
    loop = asyncio.get_running_loop()
    step = asyncio.create_task(asyncio.sleep(60))
    forced = asyncio.Event()

    def on_cancel(name):
        print(f"cancel {name}", flush=True)
        step.cancel()

    def on_force():
        print("force", flush=True)
        if mode != "stuck":
            forced.set()

    before = signal.getsignal(signal.SIGINT)  # asyncio.run's own SIGINT handler
    controller = SignalController(loop, on_cancel, on_force)
    controller.install()
    print("ready", flush=True)
    try:
        await step
        print("step completed", flush=True)
        return 0
    except asyncio.CancelledError:
        print("step cancelled", flush=True)
    rollback = asyncio.create_task(asyncio.sleep(rollback_seconds))
    waiter = asyncio.create_task(forced.wait())
    done, _ = await asyncio.wait({rollback, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if rollback in done:
        print("rollback done", flush=True)
    else:
        rollback.cancel()
        print("rollback abandoned", flush=True)
    waiter.cancel()
    print(
        f"interrupted={controller.interrupted} forced={controller.forced} "
        f"signal={controller.signal_name}",
        flush=True,
    )
    controller.uninstall()
    print(f"restored={signal.getsignal(signal.SIGINT) is before}", flush=True)
    return 130

sys.exit(asyncio.run(main(sys.argv[1], float(sys.argv[2]))))
"""


class Program:
    """The program above in a real subprocess, read line by line."""

    def __init__(self, tmp_path: Path, mode: str = "normal", rollback: float = 0.3) -> None:
        script = tmp_path / "mini_run.py"
        script.write_text(PROGRAM, encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, str(script), mode, str(rollback)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []

    def wait_for(self, line: str) -> None:
        assert self.proc.stdout is not None
        while True:
            got = self.proc.stdout.readline()
            if not got:
                raise AssertionError(f"program ended before {line!r}; printed {self.lines}")
            self.lines.append(got.rstrip("\n"))
            if self.lines[-1] == line:
                return

    def send(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def finish(self, timeout: float = 10.0) -> tuple[int, list[str], str]:
        out, err = self.proc.communicate(timeout=timeout)
        self.lines.extend(out.splitlines())
        return self.proc.returncode, self.lines, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_first_signal_cancels_and_lets_the_rollback_finish(
    tmp_path: Path, sig: signal.Signals
) -> None:
    program = Program(tmp_path)
    program.wait_for("ready")
    program.send(sig)
    code, lines, err = program.finish()
    assert code == 130, err
    assert lines == [
        "ready",
        f"cancel {sig.name}",
        "step cancelled",
        "rollback done",
        f"interrupted=True forced=False signal={sig.name}",
        "restored=True",
    ]
    assert err == ""


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_second_signal_forces_a_stop_at_once(tmp_path: Path, second: signal.Signals) -> None:
    program = Program(tmp_path, rollback=3600.0)
    program.wait_for("ready")
    program.send(signal.SIGINT)
    program.wait_for("step cancelled")
    program.send(second)
    code, lines, err = program.finish()  # the rollback takes an hour: finishing is the verdict
    assert code == 130, err
    assert lines == [
        "ready",
        "cancel SIGINT",
        "step cancelled",
        "force",
        "rollback abandoned",
        "interrupted=True forced=True signal=SIGINT",
        "restored=True",
    ]


def test_third_signal_kills_a_stuck_process_with_the_signal(tmp_path: Path) -> None:
    program = Program(tmp_path, mode="stuck", rollback=3600.0)
    program.wait_for("ready")
    program.send(signal.SIGINT)
    program.wait_for("step cancelled")
    program.send(signal.SIGINT)
    program.wait_for("force")
    program.send(signal.SIGINT)
    code, lines, _ = program.finish()
    assert code == -signal.SIGINT
    assert "rollback done" not in lines and "rollback abandoned" not in lines


def test_install_and_uninstall_restore_the_previous_handlers() -> None:
    calls: list[str] = []

    def custom(signum: int, frame: object) -> None:
        calls.append("custom")

    before_term = signal.signal(signal.SIGTERM, custom)
    before_int = signal.getsignal(signal.SIGINT)
    try:

        async def scenario() -> tuple[bool, bool]:
            loop = asyncio.get_running_loop()
            with SignalController(loop, calls.append, lambda: None) as controller:
                installed = controller.installed
                taken = signal.getsignal(signal.SIGTERM) is not custom
            return installed, taken and not controller.installed

        assert asyncio.run(scenario()) == (True, True)
        assert signal.getsignal(signal.SIGTERM) is custom
        assert signal.getsignal(signal.SIGINT) is before_int
        assert calls == []
    finally:
        signal.signal(signal.SIGTERM, before_term)


def test_off_the_main_thread_nothing_is_installed() -> None:
    result: list[bool] = []

    def in_thread() -> None:
        async def scenario() -> None:
            controller = SignalController(asyncio.get_running_loop(), print, lambda: None)
            controller.install()
            result.append(controller.installed)
            controller.uninstall()

        asyncio.run(scenario())

    before = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert result == [False]
    assert signal.getsignal(signal.SIGINT) is before
