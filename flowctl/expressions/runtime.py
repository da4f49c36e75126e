"""Per-evaluation state: the operation budget, the CPU deadline, the names, the shell."""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from msgspec import Struct, field

from flowctl.expressions.limits import MAX_CPU_SECONDS, MAX_OPERATIONS, refuse

_CLOCK_EVERY = 64  # charges between two looks at the CPU clock (a look costs a syscall)
_CLOCK_UNITS = 4096  # a charge this big is worth a look at once


class ShellCapture(Struct):
    """Values of `{{ }}` outputs in a `run:` command, each standing in the text as a token."""

    nonce: str
    texts: list[str] = field(default_factory=list)

    def token(self, text: str) -> str:
        self.texts.append(text)
        return f"@@FLOWCTL_{self.nonce}_{len(self.texts) - 1}@@"


class Evaluation(Struct):
    """Mutable state of one evaluate/render call; reached through `current()`."""

    names: Mapping[str, Any]
    shell: ShellCapture | None = None
    operations: int = 0
    charges: int = 0
    deadline: float | None = None  # set at the first look at the clock


_CURRENT: ContextVar[Evaluation | None] = ContextVar("flowctl_evaluation", default=None)


def current() -> Evaluation | None:
    return _CURRENT.get()


def enter(evaluation: Evaluation) -> Any:
    """Make `evaluation` current; returns the token `leave` needs."""
    return _CURRENT.set(evaluation)


def leave(token: Any) -> None:
    _CURRENT.reset(token)


def charge(units: int) -> None:
    """Count work against the current evaluation's budget (a no-op outside one)."""
    ev = _CURRENT.get()
    if ev is None:
        return
    ev.operations += units
    if ev.operations > MAX_OPERATIONS:
        raise refuse(f"it takes more than {MAX_OPERATIONS:,} operations")
    ev.charges += 1
    if ev.charges % _CLOCK_EVERY and units < _CLOCK_UNITS:
        return
    now = time.thread_time()
    if ev.deadline is None:
        ev.deadline = now + MAX_CPU_SECONDS
    elif now > ev.deadline:
        raise refuse(f"it takes more than {MAX_CPU_SECONDS:g} s of CPU time")
