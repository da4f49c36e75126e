"""cache + generates: generated files are stored by content and restored on a hit."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from flowctl.state.filestore import FileStore
from flowctl.status import RunStatus
from tests.files.test_up_to_date import _ran, _run
from tests.runner.sched_kit import REPO

SPEC = """
    name: cached-build
    steps:
      - id: tool
        run: >-
          printf '#!/bin/sh\\necho built %s\\n' "$(cat in.txt)" > tool.sh &&
          chmod 750 tool.sh && head -c 3000 /dev/urandom > blob.bin &&
          echo tool >> ran.log
        sources: [in.txt]
        generates: [tool.sh, blob.bin]
        cache: {key: tool}
    """


def test_a_deleted_generated_file_comes_back_from_the_cache_byte_for_byte(
    tmp_path: Path,
) -> None:
    (tmp_path / "in.txt").write_text("one")
    assert _run(tmp_path, SPEC).status is RunStatus.COMPLETED
    assert _ran(tmp_path) == ["tool"]
    made = (tmp_path / "blob.bin").read_bytes()
    (tmp_path / "blob.bin").unlink()
    (tmp_path / "tool.sh").unlink()
    result = _run(tmp_path, SPEC)
    assert _ran(tmp_path) == []  # not run: restored
    step = result.step("tool")
    assert step.cached and not step.up_to_date
    assert (tmp_path / "blob.bin").read_bytes() == made
    assert stat.S_IMODE((tmp_path / "tool.sh").stat().st_mode) == 0o750
    assert (
        subprocess.run(
            [str(tmp_path / "tool.sh")], capture_output=True, text=True, check=True
        ).stdout
        == "built one\n"
    )
    # Restored files were recorded: the next run is a no-op.
    assert _run(tmp_path, SPEC).step("tool").up_to_date


def test_the_key_includes_the_sources(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("one")
    _run(tmp_path, SPEC)
    (tmp_path / "in.txt").write_text("two")
    _run(tmp_path, SPEC)
    assert _ran(tmp_path) == ["tool", "tool"]
    (tmp_path / "in.txt").write_text("one")  # back to the first sources: a hit
    result = _run(tmp_path, SPEC)
    assert _ran(tmp_path) == []
    assert result.step("tool").cached
    assert "built one" in (tmp_path / "tool.sh").read_text()


def test_a_hit_whose_files_left_the_store_is_a_miss(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("one")
    _run(tmp_path, SPEC)
    _ran(tmp_path)
    store = FileStore(tmp_path / ".flowctl")
    for blob in store.objects.glob("*/*"):
        blob.chmod(0o644)
        blob.unlink()
    (tmp_path / "tool.sh").unlink()
    result = _run(tmp_path, SPEC)
    assert _ran(tmp_path) == ["tool"]
    assert not result.step("tool").cached
    log = result.step("tool").log_path
    assert log is not None
    assert "cache entry found, but its files are not in the store: running" in log.read_text()


def test_eviction_keeps_the_most_recently_used(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "state")
    (tmp_path / "old").write_bytes(b"o" * 1000)
    (tmp_path / "new").write_bytes(b"n" * 1000)
    store.put("k1", tmp_path, ["old"])
    store.put("k2", tmp_path, ["new"])
    blobs = sorted(store.objects.glob("*/*"), key=lambda p: p.read_bytes()[:1])
    os.utime(blobs[1], (1, 1))  # "old"'s blob, the least recently used
    assert store.evict(1500) == 1
    (tmp_path / "out").mkdir()
    assert store.restore("k2", tmp_path / "out") == ["new"]
    assert store.restore("k1", tmp_path / "out") is None


def test_cache_clear_removes_stored_files(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("one")
    _run(tmp_path, SPEC)
    done = subprocess.run(
        [sys.executable, "-m", "flowctl", "cache", "clear", "--state-dir", ".flowctl"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0
    assert done.stdout == "removed 1 cached result and 1 stored set of files\n"
    assert not (tmp_path / ".flowctl" / "files").exists()


def test_a_run_evicts_only_after_storing_files(tmp_path: Path, monkeypatch: Any) -> None:
    # Over the cap (1 byte): the run that stores files evicts; a no-op run walks nothing.
    monkeypatch.setenv("FLOWCTL_FILE_CACHE_MAX_BYTES", "1")
    walks: list[int] = []
    real = FileStore.evict

    def counting(self: FileStore, cap: int) -> int:
        walks.append(cap)
        return real(self, cap)

    monkeypatch.setattr(FileStore, "evict", counting)
    (tmp_path / "in.txt").write_text("one")
    assert _run(tmp_path, SPEC).status is RunStatus.COMPLETED
    assert walks == [1]
    assert _run(tmp_path, SPEC).status is RunStatus.COMPLETED  # up to date
    assert walks == [1]
