"""A small kit for executor tests: real StepContexts, a real file log, step builders."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

from flowctl.errors import Location
from flowctl.runner.steps.base import StepContext
from flowctl.secrets import SecretMasker
from flowctl.spec.model import (
    ActionStep,
    HttpRequest,
    ShellCommand,
    Step,
    StepType,
    WaitStep,
    WebhookStep,
)
from tests.cli import gone as gone  # re-exported: executor tests import it from here

T = TypeVar("T")
HERE = Location("workflow.yaml", 1, 1)


class FileLog:
    """A StepLog writing masked text to a real file, as the runner's log does."""

    def __init__(self, path: Path, masker: SecretMasker) -> None:
        self.path = path
        self._masker = masker
        self.writes = 0

    def write(self, text: str) -> None:
        self.writes += 1
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(self._masker.mask(text))

    def text(self) -> str:
        return self.path.read_text(encoding="utf-8") if self.path.exists() else ""


def shell_step(
    run: str,
    *,
    id: str = "step",
    shell: str | None = None,
    working_dir: str | None = None,
    env: Mapping[str, str] | None = None,
    **common: Any,
) -> ActionStep:
    command = ShellCommand(run=run, shell=shell, working_dir=working_dir, env=dict(env or {}))
    return ActionStep(id=id, type=StepType.ACTION, location=HERE, command=command, **common)


def python_step(reference: str, *, id: str = "step", **common: Any) -> ActionStep:
    return ActionStep(id=id, type=StepType.ACTION, location=HERE, python=reference, **common)


def webhook_step(url: str, *, id: str = "hook", **http: Any) -> WebhookStep:
    return WebhookStep(
        id=id, type=StepType.WEBHOOK, location=HERE, http=HttpRequest(url=url, **http)
    )


def wait_step(
    *, id: str = "pause", duration: float | None = None, until: str | None = None
) -> WaitStep:
    return WaitStep(id=id, type=StepType.WAIT, location=HERE, duration=duration, until=until)


def make_ctx(
    step: Step,
    tmp_path: Path,
    *,
    params: Mapping[str, Any] | None = None,
    names: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    secrets: tuple[str, ...] = (),
    timeout: float = 30.0,
    attempt: int = 1,
    client: httpx.AsyncClient | None = None,
    workdir: Path | None = None,
) -> StepContext:
    """A StepContext for one attempt, with a real masker and a log file under tmp_path."""
    masker = SecretMasker(secrets)
    params = dict(params or {})
    all_names: dict[str, Any] = {
        "workflow": {},
        "inputs": {},
        "params": params,
        "steps": {},
        "env": dict(env or {}),
        "run": {"id": "run-1", "workflow": "test", "started_at": "2030-01-01T00:00:00Z"},
    }
    all_names.update(names or {})

    async def http_client() -> httpx.AsyncClient:
        if client is None:
            raise AssertionError("this test gave the context no HTTP client")
        return client

    scratch = tmp_path / "scratch" / step.id / str(attempt)
    scratch.mkdir(parents=True, exist_ok=True)
    return StepContext(
        step=step,
        qualified_id=step.id,
        run_id="run-1",
        attempt=attempt,
        params=params,
        names=all_names,
        env={**{f"FLOWCTL_PARAM_{k.upper()}": str(v) for k, v in params.items()}, **(env or {})},
        log=FileLog(tmp_path / f"{step.id}.log", masker),
        masker=masker,
        workdir=workdir or tmp_path,
        scratch=scratch,
        timeout=timeout,
        idempotency_key=f"run-1/{step.id}",
        http_client=http_client,
    )


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine on a fresh event loop (no pytest-asyncio here)."""
    return asyncio.run(coro)


def log_of(ctx: StepContext) -> str:
    log = ctx.log
    assert isinstance(log, FileLog)
    return log.text()
