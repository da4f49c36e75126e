"""Open state files without following a final symlink (SECURITY.md: state is hostile).

A symlink planted in the state directory (`history.jsonl -> ~/.bashrc`) would make a run
append to whatever it points at. Every state file is opened with O_NOFOLLOW, and a refused
open becomes one clear message.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def open_state_file(path: Path, flags: int, mode: int = 0o644) -> int:
    """os.open with O_NOFOLLOW and O_CLOEXEC; OSError (ELOOP for a symlink) otherwise."""
    return os.open(path, flags | NOFOLLOW | os.O_CLOEXEC, mode)


def describe_open_error(path: Path, exc: OSError) -> str:
    """`exc` as a reason; a symlink refusal says so plainly."""
    if exc.errno == errno.ELOOP:
        return "it is a symbolic link, and flowctl does not follow symlinks in its state files"
    return exc.strerror or str(exc)
