"""The runner's side of `cache:`: a step's cache key, and cache reads and writes off the loop.

The key is the step's rendered `cache.key` template bound to a hash of the step's whole
definition (`flowctl.state.cache.cache_key`), so editing what a step does invalidates its
entries while moving or renaming it for people does not. Entries live in
`<state_dir>/cache.db`, shared by every run (and every concurrent process) using that state
directory. SQLite calls take a lock and may wait for another process, so they run on a
worker thread: a busy cache never stalls the other steps of a run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flowctl.errors import ExpressionError
from flowctl.runner.steps.base import FailureKind, StepFailure
from flowctl.spec.model import Step
from flowctl.state.cache import CacheHit, StepCache, cache_key

CACHE_FILE = "cache.db"


def cache_path(state_dir: Path) -> Path:
    """Where the step cache of a state directory lives."""
    return state_dir / CACHE_FILE


def step_cache_key(step: Step, names: Mapping[str, Any]) -> str:
    """The cache key of this step with these names (params, workflow, item, ...).

    A key template that fails (unknown name, sandbox refusal) fails the step without
    retry, like any other expression; calling this for a step without `cache:` is a bug.
    """
    if step.cache is None:
        raise ValueError(f"step {step.id!r} has no cache key")
    from flowctl.expressions import compile_template, is_template

    source = step.cache.key
    try:
        rendered = compile_template(source).render(names) if is_template(source) else source
    except ExpressionError as err:
        raise StepFailure(
            f"cache.key: {err.message}", kind=FailureKind.EXPRESSION, retryable=False
        ) from None
    return cache_key(rendered, step)


async def lookup(cache: StepCache, key: str) -> CacheHit | None:
    """The unexpired outputs stored under `key`, or None. Raises StateError if the cache
    cannot be read at all (the caller decides whether to run the step regardless)."""
    return await asyncio.to_thread(cache.get, key)


async def store(
    cache: StepCache, key: str, outputs: Mapping[str, Any], ttl: float | None, run_id: str
) -> None:
    """Keep a completed step's outputs (masked by the cache's masker) for `ttl` seconds
    (None: until `flowctl cache clear`). Raises StateError for outputs that are not JSON
    or a cache that cannot be written; the step itself has completed either way."""
    await asyncio.to_thread(cache.put, key, dict(outputs), ttl=ttl, run_id=run_id)
