"""The Dask executor: action steps run on the workers of a `distributed` cluster.

flowctl keeps the scheduling, the journal and everything else; each attempt of an action
step becomes one Dask task (Dask's own retries off: flowctl's retry_policy counts
attempts). Commands run on the worker's host in their own process group, which a
timeout or Ctrl-C kills there; a python step's worker is restarted when its attempt is
abandoned, since a running Python call cannot be stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import uuid
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowctl.errors import UsageError
from flowctl.runner.calls.process import KILL_GRACE, ProcessResult
from flowctl.runner.executors import daskworker
from flowctl.runner.executors.api import ExecutorChoice, ExecutorKind
from flowctl.runner.steps.base import FailureKind, StepFailure

if TYPE_CHECKING:
    from flowctl.runner.steps.base import StepContext

# distributed's Client, Future and LocalCluster are only partly typed: handled as Any.
Client = Any
Future = Any

INSTALL_HINT = "pip install 'flowctl[dask]'"
CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler given by address
RESTART_TIMEOUT = 60.0  # seconds a worker restart may take before flowctl stops waiting


def require_distributed() -> None:
    """Fail at once (exit 2) when Dask's distributed scheduler is not installed."""
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            f"--executor dask needs Dask's distributed scheduler, which is not installed "
            f"({exc}): {INSTALL_HINT}"
        ) from None


class DaskExecutor:
    """Runs commands and python callables as Dask tasks; one client per run."""

    kind = ExecutorKind.DASK
    local_files = False

    def __init__(self, client: Client, cluster: Any, capacity: int, *, kill_grace: float) -> None:
        self._client = client
        self._cluster = cluster  # the LocalCluster flowctl started, closed with the executor
        self._capacity = capacity
        self._kill_grace = kill_grace
        self._background: set[asyncio.Task[None]] = set()

    @property
    def capacity(self) -> int:
        return self._capacity

    @classmethod
    async def start(
        cls,
        choice: ExecutorChoice,
        *,
        modules: Iterable[Path] = (),
        kill_grace: float = KILL_GRACE,
    ) -> DaskExecutor:
        """Connect to `choice.scheduler`, or start a LocalCluster of worker processes, and
        ship `modules` (the spec directory's modules that python steps name)."""
        require_distributed()
        import cloudpickle
        import dask
        import distributed as _distributed

        distributed: Any = _distributed  # only partly typed

        cloudpickle.register_pickle_by_value(daskworker)
        cluster: Any = None
        try:
            if choice.scheduler is None:
                workers = choice.workers or os.cpu_count() or 1
                # A worker that dies fails its task at once: flowctl's retry_policy decides.
                with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                    cluster = await distributed.LocalCluster(
                        n_workers=workers,
                        threads_per_worker=1,
                        processes=True,
                        asynchronous=True,
                        dashboard_address=":0",  # any free port: 8787 may be taken
                        silence_logs=logging.ERROR,
                    )
                client = await distributed.Client(cluster, asynchronous=True)
            else:
                client = await distributed.Client(
                    choice.scheduler, asynchronous=True, timeout=CONNECT_TIMEOUT
                )
        except (OSError, TimeoutError) as exc:
            if cluster is not None:
                await cluster.close()
            where = choice.scheduler or "a local cluster"
            raise UsageError(f"cannot start the Dask executor on {where}: {exc}") from None
        try:
            info = await client.scheduler.identity()
            capacity = sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values())
            for path in modules:
                await _upload(client, path)
        except BaseException:
            await client.close()
            if cluster is not None:
                await cluster.close()
            raise
        return cls(client, cluster, capacity, kill_grace=kill_grace)

    async def workers_without(self, directory: Path) -> list[str]:
        """The workers that do not see `directory` as flowctl does (no shared filesystem):
        a file with random content is written there and every worker is asked to read it."""
        token = uuid.uuid4().hex
        probe = directory / f".flowctl-shared-fs-{token}"
        try:
            probe.write_text(token, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write a probe file in {directory}: {exc}") from None
        try:
            seen: dict[str, Any] = await self._client.run(
                daskworker.sees_file, str(probe), token, on_error="return"
            )
        finally:
            probe.unlink(missing_ok=True)
        return sorted(address for address, ok in seen.items() if ok is not True)

    # -- the two calls -----------------------------------------------------------------------

    async def shell(
        self,
        ctx: StepContext,
        argvs: Sequence[Sequence[str]],
        *,
        cwd: Path,
        env: Mapping[str, str],
        output_path: Path,
        metrics_path: Path,
    ) -> ProcessResult:
        token = _token(ctx)
        future = await self._submit(
            ctx, token, daskworker.run_shell, token, [list(a) for a in argvs], str(cwd), dict(env)
        )
        found = await self._wait(ctx, future, token)
        _placed(ctx, found)
        if "spawn_error" in found:
            if found.get("spawn_kind") == "value":
                raise ValueError(found["spawn_error"])
            raise OSError(0, found["spawn_error"])
        if "error" in found:
            raise StepFailure(ctx.masker.mask(found["error"]))
        if found.get("cancelled"):
            raise StepFailure("cancelled before it started", kind=FailureKind.CANCELLED)
        stdout = ctx.masker.mask(found["stdout"])
        stderr = ctx.masker.mask(found["stderr"])
        # The worker sends the output when the command ends: the log gets it then.
        for text in (stdout, stderr):
            if text:
                ctx.log.write(text if text.endswith("\n") else text + "\n")
        for path, text in ((output_path, found["output"]), (metrics_path, found["metrics"])):
            if text is not None:
                path.write_text(text, encoding="utf-8")
        return ProcessResult(
            returncode=found["returncode"],
            stdout=stdout,
            stderr=stderr,
            stdout_truncated=found["stdout_truncated"],
            stderr_truncated=found["stderr_truncated"],
        )

    async def python(self, ctx: StepContext, reference: str, kwargs: Mapping[str, Any]) -> Any:
        token = _token(ctx)
        future = await self._submit(ctx, token, daskworker.call_python, reference, dict(kwargs))
        found = await self._wait(ctx, future, token, restart=True)
        _placed(ctx, found)
        if "import_error" in found:
            raise StepFailure(ctx.masker.mask(found["import_error"]), retryable=False)
        if "error" in found:
            ctx.log.write(ctx.masker.mask(found["traceback"]))
            raise StepFailure(ctx.masker.mask(found["error"]))
        return found["value"]

    # -- tasks -------------------------------------------------------------------------------

    async def _submit(self, ctx: StepContext, key: str, function: Any, *args: Any) -> Future:
        resources = getattr(ctx.step, "resources", None) or None
        if resources:
            await self._check_resources(ctx, resources)
        return self._client.submit(
            function, *args, key=key, pure=False, retries=0, resources=resources
        )

    async def _check_resources(self, ctx: StepContext, wanted: Mapping[str, float]) -> None:
        """Fail at once when no connected worker declares what the step asks for: Dask
        would otherwise keep the task waiting forever."""
        declared: dict[str, dict[str, float]] = await self._client.run_on_scheduler(
            daskworker.worker_resources
        )
        if any(all(has.get(k, 0) >= v for k, v in wanted.items()) for has in declared.values()):
            return
        asked = ", ".join(f"{k}={v:g}" for k, v in wanted.items())
        offers = "; ".join(
            f"{address}: " + (", ".join(f"{k}={v:g}" for k, v in has.items()) or "none")
            for address, has in sorted(declared.items())
        )
        raise StepFailure(
            f"no connected Dask worker declares resources {asked} "
            f"(workers declare: {offers or 'no workers connected'})",
            kind=FailureKind.UNSUPPORTED,
            retryable=False,
        )

    async def _wait(
        self, ctx: StepContext, future: Future, token: str, *, restart: bool = False
    ) -> dict[str, Any]:
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        try:
            found: dict[str, Any] = await future
        except asyncio.CancelledError:
            # A timeout or Ctrl-C: stop the work on the worker before giving up the attempt.
            stop = asyncio.ensure_future(self._stop(ctx, future, token, restart=restart))
            self._background.add(stop)  # aclose waits for it, even after a second cancel
            stop.add_done_callback(self._background.discard)
            await asyncio.shield(stop)
            raise
        except KilledWorker as exc:
            worker = exc.last_worker.address
            if ctx.placed is not None:
                ctx.placed(worker)
            raise StepFailure(f"the Dask worker {worker} died while running this attempt") from None
        except FutureCancelledError as exc:
            raise StepFailure(f"the Dask task was cancelled: {exc}") from None
        except Exception as exc:  # lost scheduler, a result that cannot be pickled, ...
            raise StepFailure(ctx.masker.mask(f"Dask: {type(exc).__name__}: {exc}")) from None
        return found

    async def _stop(self, ctx: StepContext, future: Future, token: str, *, restart: bool) -> None:
        """Kill the attempt's process group wherever it runs (every worker is asked, so a
        task that has not started yet never starts), restart a worker running a python
        call, then forget the task."""
        client = self._client
        try:
            replies: dict[str, Any] = await client.run(
                daskworker.kill, token, self._kill_grace, on_error="return"
            )
        except Exception:  # the scheduler is gone: nothing left to ask
            replies = {}
        running = [
            address
            for address, reply in replies.items()
            if isinstance(reply, dict) and (reply.get("pgid") or reply.get("executing"))
        ]
        for address in running:
            if ctx.placed is not None:
                ctx.placed(address)
        with contextlib.suppress(Exception):
            await client.cancel([future], force=True)
        if restart and running:
            task = asyncio.ensure_future(self._restart(running))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _restart(self, workers: list[str]) -> None:
        with contextlib.suppress(Exception):
            await self._client.restart_workers(
                workers, timeout=RESTART_TIMEOUT, raise_for_error=False
            )

    async def aclose(self) -> None:
        if self._background:
            await asyncio.wait(self._background, timeout=RESTART_TIMEOUT)
        with contextlib.suppress(Exception):
            await self._client.close()
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                await self._cluster.close()


def _token(ctx: StepContext) -> str:
    """The Dask key of one attempt: unique, readable in the Dask dashboard."""
    return f"flowctl-{ctx.qualified_id}-{ctx.attempt}-{uuid.uuid4().hex[:12]}"


def _placed(ctx: StepContext, found: Mapping[str, Any]) -> None:
    worker = found.get("worker")
    if ctx.placed is not None and isinstance(worker, str):
        ctx.placed(worker)


async def _upload(client: Client, path: Path) -> None:
    """Send one module file, or a package directory as a zip, to every worker (and to
    workers that join later). Loaded there at once: a worker that ran an older version
    of the module in an earlier run reloads it, and an import error shows now."""
    try:
        if path.is_file():
            await client.upload_file(str(path), load=True)
            return
        with tempfile.TemporaryDirectory(prefix="flowctl-upload-") as tmp:
            archive = Path(tmp) / f"{path.name}.zip"
            with zipfile.ZipFile(archive, "w") as zipped:
                for file in sorted(path.rglob("*.py")):
                    zipped.write(file, file.relative_to(path.parent))
            await client.upload_file(str(archive), load=True)
    except Exception as exc:
        raise UsageError(
            f"cannot ship {path} to the Dask workers: {type(exc).__name__}: {exc}"
        ) from None
