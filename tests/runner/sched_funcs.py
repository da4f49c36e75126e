"""Small functions that the scheduler tests' workflows call as `python:` steps."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any


async def noop() -> dict[str, Any]:
    return {}


def sync_noop() -> dict[str, Any]:
    return {}


async def echo(**params: Any) -> dict[str, Any]:
    return dict(params)


async def value(value: Any) -> Any:
    """Returns a non-mapping: the outputs become {"result": value}."""
    return value


async def sleep(seconds: float = 0.1, **extra: Any) -> dict[str, Any]:
    await asyncio.sleep(float(seconds))
    return {"slept": float(seconds), **extra}


async def fail(message: str = "boom") -> dict[str, Any]:
    raise RuntimeError(message)


async def flaky(counter: str, failures: int, ctx: Any) -> dict[str, Any]:
    """Fails the first `failures` calls (counted in a file), then succeeds."""
    path = Path(counter)
    seen = int(path.read_text()) if path.exists() else 0
    path.write_text(str(seen + 1))
    with Path(counter + ".keys").open("a") as keys:
        keys.write(f"{ctx.attempt} {ctx.idempotency_key} {ctx.env['FLOWCTL_IDEMPOTENCY_KEY']}\n")
    if seen < int(failures):
        raise RuntimeError(f"flaky failure {seen + 1}")
    return {"calls": seen + 1}


async def env_of(ctx: Any, names: list[str]) -> dict[str, Any]:
    return {name: ctx.env.get(name) for name in names}


async def count_up(counter: str) -> dict[str, Any]:
    """Adds one to the number in a file and returns the new number."""
    path = Path(counter)
    seen = int(path.read_text()) if path.exists() else 0
    path.write_text(str(seen + 1))
    return {"n": seen + 1}


async def print_secret(ctx: Any) -> dict[str, Any]:
    secret = os.environ["FLOWCTL_TEST_SECRET"]
    ctx.log.write(f"the token is {secret}\n")
    return {"token": secret, "note": f"embedded {secret} here"}


async def leak_secret_error() -> dict[str, Any]:
    raise RuntimeError(f"bad token {os.environ['FLOWCTL_TEST_SECRET']}")


async def metric(ctx: Any) -> dict[str, Any]:
    ctx.metric("rows", 42)
    return {}


def collector_resumed_and_frozen() -> dict[str, Any]:
    """Fails unless the cycle collector runs and start-up's objects are out of its scans."""
    import gc

    if not gc.isenabled():
        raise RuntimeError("the cycle collector is still paused")
    if gc.get_freeze_count() < 1000:  # modules, classes and the spec are many more
        raise RuntimeError(f"only {gc.get_freeze_count()} objects were frozen")
    return {}
