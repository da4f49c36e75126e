"""One process at a time per run: an exclusive lock held while a run or a resume is going."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from flowctl.errors import StateError

LOCK_FILE = ".session.lock"


@contextlib.contextmanager
def run_lock(run_dir: Path, run_id: str) -> Iterator[None]:
    """Hold the run's lock, or raise StateError when another process holds it.

    The kernel drops the lock when its holder dies (even by SIGKILL), so a crashed run
    never blocks its own resume; the descriptor is close-on-exec, so step processes do not
    keep it.
    """
    path = run_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StateError(f"cannot lock run {run_id} ({path}): {exc}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StateError(
                    f"run {run_id} is in use by another flowctl process (still running, or "
                    "being resumed); wait for it to end"
                ) from None
            raise StateError(f"cannot lock run {run_id} ({path}): {exc}") from exc
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
