"""run_process: real /bin/sh children, their output, masking, and killing whole groups."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

import pytest

from flowctl.runner.calls.process import ProcessResult, run_process
from flowctl.secrets import SecretMasker
from tests.cli import gone
from tests.runner.helpers import run

SECRET = "s3cr3t-token-value"


class ListLog:
    def __init__(self) -> None:
        self.path = Path("unused")
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    @property
    def text(self) -> str:
        return "".join(self.parts)


def sh(
    script: str,
    tmp_path: Path,
    *,
    masker: SecretMasker | None = None,
    log: ListLog | None = None,
    **kw: float,
) -> ProcessResult:
    async def go() -> ProcessResult:
        return await run_process(
            ["/bin/sh", "-c", script],
            cwd=tmp_path,
            env=dict(os.environ),
            masker=masker or SecretMasker(),
            log=log,
            **kw,  # type: ignore[arg-type]
        )

    return run(go())


def test_captures_both_streams_and_the_exit_code(tmp_path: Path) -> None:
    log = ListLog()
    result = sh("echo out; echo err >&2; printf tail; exit 7", tmp_path, log=log)
    assert result.returncode == 7
    assert result.exit_code == 7
    assert result.stdout == "out\ntail"
    assert result.stderr == "err\n"
    assert sorted(log.parts) == sorted(["out\n", "tail\n", "err\n"])


def test_runs_in_the_given_directory_with_the_given_environment(tmp_path: Path) -> None:
    async def go() -> ProcessResult:
        return await run_process(
            ["/bin/sh", "-c", 'pwd; echo "$ONLY_HERE"'],
            cwd=tmp_path,
            env={"ONLY_HERE": "yes", "PATH": os.environ["PATH"]},
            masker=SecretMasker(),
        )

    assert run(go()).stdout.splitlines() == [str(tmp_path), "yes"]


def test_a_secret_split_across_writes_is_masked_in_output_and_log(tmp_path: Path) -> None:
    masker = SecretMasker([SECRET])
    log = ListLog()
    half = len(SECRET) // 2
    encoded = base64.b64encode(SECRET.encode()).decode()
    script = (
        f"printf '{SECRET[:half]}'; sleep 0.05; printf '{SECRET[half:]}\\n'; "
        f"echo {encoded} >&2; echo done"
    )
    result = sh(script, tmp_path, masker=masker, log=log)
    assert result.stdout == "***\ndone\n"
    assert result.stderr == "***\n"
    assert SECRET not in log.text and encoded not in log.text
    assert "***" in log.text


def test_log_lines_are_never_interleaved_mid_line(tmp_path: Path) -> None:
    log = ListLog()
    script = (
        "for i in $(seq 300); do printf 'out-%s-' $i; printf 'end\\n'; done & "
        "for i in $(seq 300); do printf 'err-%s-' $i >&2; printf 'end\\n' >&2; done; wait"
    )
    sh(script, tmp_path, log=log)
    assert all(part.endswith("\n") for part in log.parts)
    lines = log.text.splitlines()
    assert len(lines) == 600
    assert all(line.startswith(("out-", "err-")) and line.endswith("-end") for line in lines)
    assert all(line.count("-") == 2 for line in lines)


def test_only_the_tail_of_a_large_output_is_kept_in_memory(tmp_path: Path) -> None:
    log = ListLog()
    result = sh("seq 1 100000", tmp_path, log=log, capture_limit=1000)
    assert result.stdout_truncated and not result.stderr_truncated
    assert len(result.stdout) == 1000
    assert result.stdout.endswith("99999\n100000\n")
    assert log.text.splitlines() == [str(i) for i in range(1, 100001)]


def test_invalid_utf8_is_replaced_not_fatal(tmp_path: Path) -> None:
    result = sh(r"printf 'a\377b\n'", tmp_path)
    assert result.stdout == "a\ufffdb\n"


def test_a_process_killed_by_a_signal_reports_128_plus_n(tmp_path: Path) -> None:
    result = sh("kill -9 $$", tmp_path)
    assert result.returncode == -9
    assert result.exit_code == 137
    assert result.signal_name == "SIGKILL"


def test_cancel_kills_the_whole_group_including_grandchildren(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"

    async def go() -> None:
        async with asyncio.timeout(0.5):
            await run_process(
                ["/bin/sh", "-c", f"sleep 3600 & echo $! > {pidfile}; sleep 3600"],
                cwd=tmp_path,
                env=dict(os.environ),
                masker=SecretMasker(),
            )

    with pytest.raises(TimeoutError):
        run(go())
    grandchild = int(pidfile.read_text())
    assert gone(grandchild)


def test_sigterm_is_followed_by_sigkill_when_ignored(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    script = f"trap '' TERM; sleep 3600 & echo $! > {pidfile}; sleep 3600; sleep 3600"

    async def go() -> None:
        async with asyncio.timeout(0.3):
            await run_process(
                ["/bin/sh", "-c", script],
                cwd=tmp_path,
                env=dict(os.environ),
                masker=SecretMasker(),
                kill_grace=0.3,
            )

    with pytest.raises(TimeoutError):
        run(go())  # SIGTERM is ignored: only the SIGKILL after the grace period ends it
    assert gone(int(pidfile.read_text()))


def test_background_children_holding_the_pipes_do_not_hang_the_step(tmp_path: Path) -> None:
    log = ListLog()
    pidfile = tmp_path / "pid"
    # The background child would hold the pipes for an hour: returning at all is the verdict.
    result = sh(
        f"sleep 3600 & echo $! > {pidfile}; echo started", tmp_path, log=log, pipe_grace=0.2
    )
    assert result.returncode == 0 and result.detached
    assert result.stdout == "started\n"
    assert "background processes" in log.text
    os.kill(int(pidfile.read_text()), 9)


def test_a_missing_program_raises_for_the_caller_to_translate(tmp_path: Path) -> None:
    async def go() -> ProcessResult:
        return await run_process(
            ["/nonexistent/program"], cwd=tmp_path, env={}, masker=SecretMasker()
        )

    with pytest.raises(FileNotFoundError):
        run(go())


def test_without_pidfds_a_waiter_thread_notices_the_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Platforms without pidfd_open (macOS, old kernels) take the thread-based path.
    monkeypatch.delattr(os, "pidfd_open")
    result = sh("echo fine; exit 4", tmp_path)
    assert (result.returncode, result.stdout) == (4, "fine\n")
    pidfile = tmp_path / "pid"

    async def go() -> None:
        async with asyncio.timeout(0.3):
            await run_process(
                ["/bin/sh", "-c", f"sleep 3600 & echo $! > {pidfile}; sleep 3600"],
                cwd=tmp_path,
                env=dict(os.environ),
                masker=SecretMasker(),
            )

    with pytest.raises(TimeoutError):
        run(go())
    assert gone(int(pidfile.read_text()))
