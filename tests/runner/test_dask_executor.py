"""--executor dask on a real LocalCluster of worker processes: placement, outputs, kills,
worker death, a killed flowctl resumed, resources. One cluster serves the whole session."""

from __future__ import annotations

import io
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowctl.errors import SpecError, UsageError
from flowctl.progress.plain import PlainProgress
from flowctl.runner.executors.api import ExecutorChoice, ExecutorKind
from flowctl.runner.session import run_workflow
from flowctl.state.audit import read_journal
from flowctl.status import RunStatus, StepStatus
from tests.cli import wait_for
from tests.runner.helpers import gone

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def cluster() -> Iterator[Any]:
    """Two worker processes, one thread each; a dead worker fails its task at once."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        local = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: 8787 may be taken
            silence_logs=logging.ERROR,
        )
    try:
        yield local
    finally:
        local.close()


def _choice(cluster: Any) -> ExecutorChoice:
    return ExecutorChoice(kind=ExecutorKind.DASK, scheduler=cluster.scheduler_address)


def _workers(cluster: Any) -> set[str]:
    return set(cluster.scheduler_info["workers"])


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _events(result: Any, kind: str) -> list[Any]:
    journal = read_journal(result.paths.audit)
    return [e for e in journal.events if e.event == kind]


def _run(spec: Path, cluster: Any, tmp_path: Path) -> Any:
    return run_workflow(
        spec,
        state_dir=tmp_path / "state",
        workdir=tmp_path,
        executor=_choice(cluster),
        record_history=False,
    )


def test_python_and_shell_steps_run_on_the_workers_and_their_outputs_come_back(
    cluster: Any, tmp_path: Path
) -> None:
    _write(
        tmp_path,
        "dask_where_steps.py",
        """
        import os

        def where(n):
            from distributed import get_worker
            return {"pid": os.getpid(), "worker": get_worker().address, "twice": 2 * n}
        """,
    )
    spec = _write(
        tmp_path,
        "where.yaml",
        """
        name: where
        steps:
          - id: py
            python: dask_where_steps:where
            input_mapping: {n: 21}
          - id: sh
            run: |
              echo "pid=$$" >> "$FLOWCTL_OUTPUT"
              echo "worker=$FLOWCTL_WORKER" >> "$FLOWCTL_OUTPUT"
          - id: after
            dependencies: [py, sh]
            input_mapping: {twice: steps.py.outputs.twice}
            run: echo "got $FLOWCTL_PARAM_TWICE"
        """,
    )
    result = _run(spec, cluster, tmp_path)
    assert result.status is RunStatus.COMPLETED, result.error
    py, sh = result.steps["py"].outputs, result.steps["sh"].outputs
    workers = _workers(cluster)
    assert py["pid"] != os.getpid() and int(sh["pid"]) != os.getpid()
    assert py["worker"] in workers and sh["worker"] in workers
    assert py["twice"] == 42
    assert result.steps["after"].outputs["stdout"] == "got 42"
    placed = {e.step: e.data["worker"] for e in _events(result, "step_placed")}
    assert placed["py"] == py["worker"] and placed["sh"] == sh["worker"]
    assert placed["after"] in workers
    started = _events(result, "run_started")[0].data["executor"]
    assert started == {"type": "dask", "scheduler": cluster.scheduler_address, "capacity": 2}


def test_a_step_timeout_kills_the_remote_process_group(cluster: Any, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    spec = _write(
        tmp_path,
        "slow.yaml",
        f"""
        name: slow
        steps:
          - id: hang
            timeout: 1s
            run: |
              sleep 60 &
              echo "$! $$" > {pids}
              wait
        """,
    )
    result = _run(spec, cluster, tmp_path)
    step = result.steps["hang"]
    assert step.status is StepStatus.FAILED
    assert step.error_kind == "timeout"
    child, shell = (int(p) for p in pids.read_text().split())
    assert child != os.getpid()
    # The attempt ends only after the group got SIGTERM (and SIGKILL after the grace).
    assert gone(child, within=5.0) and gone(shell, within=5.0)
    placed = _events(result, "step_placed")
    assert [e.data["worker"] in _workers(cluster) for e in placed] == [True]


def test_a_python_step_timeout_fails_at_once_and_restarts_its_worker(
    cluster: Any, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    _write(
        tmp_path,
        "dask_sleepy_steps.py",
        f"""
        import os, time

        def sleepy():
            with open({str(pid_file)!r}, "w") as handle:
                handle.write(str(os.getpid()))
            time.sleep(60)
        """,
    )
    spec = _write(
        tmp_path,
        "sleepy.yaml",
        """
        name: sleepy
        steps:
          - id: nap
            timeout: 1s
            python: dask_sleepy_steps:sleepy
        """,
    )
    result = _run(spec, cluster, tmp_path)
    assert result.steps["nap"].error_kind == "timeout"
    worker_pid = int(pid_file.read_text())
    assert worker_pid != os.getpid()
    assert gone(worker_pid, within=30.0)  # the worker process was restarted
    client = distributed.Client(cluster.scheduler_address)
    try:
        client.wait_for_workers(2, timeout=60)
    finally:
        client.close()


def test_a_worker_dying_mid_step_is_a_retryable_failure(cluster: Any, tmp_path: Path) -> None:
    marker = tmp_path / "died-once"
    _write(
        tmp_path,
        "dask_dying_steps.py",
        f"""
        import os, signal

        def die_once():
            if not os.path.exists({str(marker)!r}):
                open({str(marker)!r}, "w").close()
                os.kill(os.getpid(), signal.SIGKILL)  # the worker process itself
            return {{"survived": True}}
        """,
    )
    spec = _write(
        tmp_path,
        "dying.yaml",
        """
        name: dying
        steps:
          - id: fragile
            python: dask_dying_steps:die_once
            retry_policy: {max_attempts: 2, delay: 0}
        """,
    )
    result = _run(spec, cluster, tmp_path)
    step = result.steps["fragile"]
    assert step.status is StepStatus.COMPLETED, step.error
    assert step.attempts == 2
    assert step.outputs == {"survived": True}
    (retry,) = _events(result, "step_retrying")
    assert "died while running this attempt" in retry.data["error"]
    client = distributed.Client(cluster.scheduler_address)
    try:
        client.wait_for_workers(2, timeout=60)  # the nanny brought it back
    finally:
        client.close()


def test_a_killed_flowctl_resumes_without_rerunning_completed_steps(
    cluster: Any, tmp_path: Path
) -> None:
    counter, keys, release = tmp_path / "first-ran", tmp_path / "keys", tmp_path / "release"
    spec = _write(
        tmp_path,
        "crash.yaml",
        f"""
        name: crash
        steps:
          - id: first
            run: echo ran >> {counter}
          - id: second
            dependencies: [first]
            run: |
              echo "$FLOWCTL_IDEMPOTENCY_KEY" >> {keys}
              i=0
              while [ ! -f {release} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
        """,
    )
    state = tmp_path / "state"
    common = ["--state-dir", str(state), "--no-progress", "--scheduler", cluster.scheduler_address]
    env = {**os.environ, "FLOWCTL_EXECUTOR": "dask"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowctl", "run", str(spec), *common],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            "the second step started",
            lambda: keys.exists() and bool(keys.read_text().strip()),
            timeout=60,
            proc=proc,
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    release.touch()  # the orphaned first attempt ends; the resumed one passes straight through
    (run_id,) = [p.name for p in (state / "runs").iterdir()]
    resumed = subprocess.run(
        [sys.executable, "-m", "flowctl", "resume", run_id, *common[:3]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert counter.read_text() == "ran\n"  # `first` completed before the kill: not run again
    first_key, second_key = keys.read_text().split()
    assert first_key == second_key == f"{run_id}:second"
    journal = read_journal(state / "runs" / run_id / "audit.jsonl")
    placed = [e.data["worker"] for e in journal.events if e.event == "step_placed"]
    assert placed and set(placed) <= _workers(cluster)


def test_resources_no_worker_declares_fail_at_once_with_the_reason(
    cluster: Any, tmp_path: Path
) -> None:
    spec = _write(
        tmp_path,
        "gpu.yaml",
        """
        name: gpu
        steps:
          - id: train
            resources: {gpu: 1, memory: 2GB}
            retry_policy: {max_attempts: 3, delay: 0}
            run: echo never
        """,
    )
    result = _run(spec, cluster, tmp_path)
    step = result.steps["train"]
    assert step.status is StepStatus.FAILED
    assert step.attempts == 1  # no retry: waiting or retrying cannot make a GPU appear
    assert step.error is not None
    assert step.error.startswith(
        "no connected Dask worker declares resources gpu=1, memory=2e+09 (workers declare: "
    )
    assert all(f"{w}: none" in step.error for w in _workers(cluster))


def test_a_python_step_taking_ctx_is_refused_before_anything_runs(
    cluster: Any, tmp_path: Path
) -> None:
    _write(tmp_path, "dask_ctx_steps.py", "def uses_ctx(ctx):\n    return {}\n")
    spec = _write(
        tmp_path,
        "ctx.yaml",
        """
        name: ctx
        steps:
          - id: local_only
            python: dask_ctx_steps:uses_ctx
        """,
    )
    with pytest.raises(SpecError) as raised:
        _run(spec, cluster, tmp_path)
    assert str(raised.value) == (
        f"{spec}:5:5: step 'local_only': dask_ctx_steps:uses_ctx takes `ctx`, which cannot "
        "cross to a Dask worker (remove the parameter, or run with --executor local) "
        "(at local_only)"
    )
    assert not (tmp_path / "state" / "runs").exists() or not any(
        (tmp_path / "state" / "runs").iterdir()
    )


def test_run_on_a_local_cluster_started_and_closed_by_flowctl(tmp_path: Path) -> None:
    spec = _write(
        tmp_path,
        "own.yaml",
        """
        name: own
        executor: {type: dask, workers: 1}
        steps:
          - id: hello
            run: echo "$FLOWCTL_WORKER"
        """,
    )
    from flowctl.runner.executors.choose import choose_executor
    from flowctl.spec.load import load_workflow

    lines = io.StringIO()
    with PlainProgress(lines) as progress:
        result = run_workflow(
            spec,
            state_dir=tmp_path / "state",
            workdir=tmp_path,
            executor=choose_executor(load_workflow(spec), environ={}),
            observers=[progress],
            record_history=False,
        )
    assert result.status is RunStatus.COMPLETED, result.error
    worker = result.steps["hello"].outputs["stdout"]
    assert worker.startswith("tcp://127.0.0.1:")
    (started,) = _events(result, "run_started")
    assert started.data["executor"] == {"type": "dask", "workers": 1, "capacity": 1}
    (placed,) = _events(result, "step_placed")
    assert placed.data["worker"] == worker
    assert "✓ hello" in lines.getvalue() and f"(on {worker})" in lines.getvalue()
    host, port = worker.removeprefix("tcp://").rsplit(":", 1)
    with pytest.raises(ConnectionRefusedError):  # flowctl closed the cluster it started
        socket.create_connection((host, int(port)), timeout=5).close()


def test_a_module_that_cannot_be_imported_on_the_workers_stops_the_run_before_it_starts(
    cluster: Any, tmp_path: Path
) -> None:
    _write(tmp_path, "dask_broken_steps.py", "raise RuntimeError('half-written module')\n")
    spec = _write(
        tmp_path,
        "broken.yaml",
        """
        name: broken
        steps:
          - id: never
            python: dask_broken_steps:anything
        """,
    )
    with pytest.raises(UsageError) as raised:
        _run(spec, cluster, tmp_path)
    assert str(raised.value) == (
        f"cannot ship {tmp_path / 'dask_broken_steps.py'} to the Dask workers: "
        "RuntimeError: half-written module"
    )
    assert not (tmp_path / "state" / "runs").exists() or not any(
        (tmp_path / "state" / "runs").iterdir()
    )


def test_ctrl_c_kills_the_remote_process_group(cluster: Any, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    spec = _write(
        tmp_path,
        "interrupted.yaml",
        f"""
        name: interrupted
        steps:
          - id: hang
            run: |
              sleep 120 &
              echo "$! $$" > {pids}.tmp && mv {pids}.tmp {pids}
              wait
        """,
    )
    remote = ["--executor", "dask", "--scheduler", cluster.scheduler_address]
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowctl", "run", str(spec), "--no-progress", *remote],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for("the step started", pids.exists, timeout=60, proc=proc)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    child, shell = (int(p) for p in pids.read_text().split())
    # flowctl exits only after the worker killed the group: nothing is left behind.
    assert gone(child, within=1.0) and gone(shell, within=1.0)


def test_steps_with_files_run_on_workers_that_share_the_filesystem(
    cluster: Any, tmp_path: Path
) -> None:
    (tmp_path / "input.txt").write_text("hello\n")
    spec = _write(
        tmp_path,
        "files.yaml",
        """
        name: files
        steps:
          - id: copy
            sources: [input.txt]
            generates: [out.txt]
            run: |
              cp input.txt out.txt
              echo "worker=$FLOWCTL_WORKER" >> "$FLOWCTL_OUTPUT"
        """,
    )
    first = _run(spec, cluster, tmp_path)
    assert first.status is RunStatus.COMPLETED, first.error
    assert first.steps["copy"].outputs["worker"] in _workers(cluster)
    assert (tmp_path / "out.txt").read_text() == "hello\n"
    again = _run(spec, cluster, tmp_path)  # checked by flowctl, on the shared files
    assert again.steps["copy"].up_to_date
    assert not _events(again, "step_placed")  # nothing was sent to a worker
    assert not list(tmp_path.glob(".flowctl-shared-fs-*"))  # the probe file is gone


def test_a_worker_reading_another_content_does_not_share_the_filesystem(tmp_path: Path) -> None:
    from flowctl.runner.executors.daskworker import sees_file

    probe = tmp_path / "probe"
    probe.write_text("token-a")
    assert sees_file(str(probe), "token-a")
    assert not sees_file(str(probe), "token-b")  # another file at the same path
    assert not sees_file(str(tmp_path / "missing"), "token-a")


def test_the_refusal_without_a_shared_filesystem_names_the_step_and_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowctl.runner.executors.choose import _no_shared_files
    from flowctl.spec.load import load_workflow

    monkeypatch.chdir(tmp_path)
    _write(
        tmp_path,
        "files.yaml",
        """
        name: files
        steps:
          - id: copy
            sources: [input.txt]
            run: cp input.txt out.txt
        """,
    )
    step = load_workflow(Path("files.yaml")).steps[0]
    problem = _no_shared_files(step, ["tcp://10.0.0.6:32979"], Path("/home/ci/project"))
    assert str(problem) == (  # as docs/scale-out.md shows it
        "files.yaml:5:5: step 'copy' declares sources, which flowctl checks on its own "
        "filesystem, but Dask worker tcp://10.0.0.6:32979 does not see /home/ci/project (no "
        "shared filesystem): run it with --executor local, or on workers that share this "
        "directory (at copy)"
    )
