"""Ctrl-C and SIGTERM during a run: cancel cleanly first, stop at once if asked twice.

The first SIGINT or SIGTERM asks for an orderly stop (`on_cancel`): the scheduler cancels
running steps, runs the rollback, closes the audit log and exits 130. A second signal asks
to stop now (`on_force`): the journal stays resumable because every completed event is
already on disk. A third means flowctl itself is stuck: the default action of the signal
is restored and the signal re-sent, so the process dies the way the user asked (as tox's
SIGINT -> SIGTERM -> SIGKILL escalation guarantees a way out).

Handlers go through `loop.add_signal_handler`, so callbacks run on the event loop thread,
between callbacks, where they may touch tasks and futures safely.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM)

# Signals taken by any controller in this process. A signal that lands after a run's last
# step but before its session ends is taken and yet the run completes; `run --watch` compares
# this count around each run so that such a Ctrl-C still stops the watch.
_taken = 0


def signals_taken() -> int:
    return _taken


class SignalController:
    """Turns SIGINT/SIGTERM into `on_cancel(name)`, then `on_force()`, then the default."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_cancel: Callable[[str], None],
        on_force: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._on_cancel = on_cancel
        self._on_force = on_force
        self._previous: dict[signal.Signals, Any] = {}
        self.installed = False
        self.interrupted = False  # the first signal arrived
        self.forced = False  # a second one arrived
        self.signal_name: str | None = None  # the first signal's name: "SIGINT", "SIGTERM"

    def install(self) -> None:
        """Take over SIGINT and SIGTERM. Off the main thread (an API caller running the
        loop in a thread), signals cannot be handled there: nothing is installed."""
        if self.installed or threading.current_thread() is not threading.main_thread():
            return
        for sig in HANDLED:
            self._previous[sig] = signal.getsignal(sig)
            self._loop.add_signal_handler(sig, self._received, sig)
        self.installed = True

    def uninstall(self) -> None:
        """Give SIGINT and SIGTERM back to the handlers they had before `install`."""
        if not self.installed:
            return
        for sig in HANDLED:
            self._loop.remove_signal_handler(sig)
            previous = self._previous.pop(sig, None)
            # getsignal() gives None for a handler not set from Python: leave the default.
            if previous is not None:
                signal.signal(sig, previous)
        self.installed = False

    def _received(self, sig: signal.Signals) -> None:
        global _taken
        _taken += 1
        if not self.interrupted:
            self.interrupted = True
            self.signal_name = sig.name
            self._on_cancel(sig.name)
        elif not self.forced:
            self.forced = True
            self._on_force()
        else:
            self.uninstall()
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)

    def __enter__(self) -> SignalController:
        self.install()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstall()
