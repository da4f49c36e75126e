"""Python steps for the issue-4 runner tests: each call is counted in a file, once per key."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any


def _count(log: str, name: str) -> int:
    """Append `name` to the log file; return how many times it is there now."""
    path = Path(log)
    with path.open("a") as handle:
        handle.write(name + "\n")
    return path.read_text().split().count(name)


async def counted(log: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"calls": _count(log, name), **extra}


async def fail_unless(log: str, name: str, flag: str) -> dict[str, Any]:
    """Counted; fails while the flag file does not exist."""
    calls = _count(log, name)
    if not Path(flag).exists():
        raise RuntimeError(f"{name}: no flag yet")
    return {"calls": calls}


async def slow_counted(log: str, name: str, seconds: float) -> dict[str, Any]:
    calls = _count(log, name)
    await asyncio.sleep(float(seconds))
    return {"calls": calls}


async def key_of(ctx: Any) -> dict[str, Any]:
    return {"key": ctx.env["FLOWCTL_IDEMPOTENCY_KEY"]}


def calls(log: Path) -> dict[str, int]:
    """How many times each name was called, from the log file."""
    out: dict[str, int] = {}
    if log.exists():
        for name in log.read_text().split():
            out[name] = out.get(name, 0) + 1
    return out
