"""Spec files that passed every check, by the digest of their bytes: `run` skips the checks
the next time it meets the same bytes (see `spec.load.CheckedSpecs`).

One empty file per digest under `<state_dir>/checked/<code>/`, where `<code>` names the
checking code: a digest of the names, sizes and modification times of the modules and
schemas that decide whether a spec is valid. An upgrade, or an edit of that code in a
checkout, starts a new folder, so a verdict is never reused by code that could reach
another one. A marker only says "these exact bytes passed": a planted one cannot make
other bytes pass, since they have another digest, and the bytes it names would pass
anyway. Creating a file is atomic, so concurrent runs need no lock; a marker that cannot
be written costs the next run its checks, nothing else.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CHECKED_DIR = "checked"
_PACKAGE = Path(__file__).resolve().parent.parent
# What `spec.load` runs on a file: the YAML reader, the schema, the model, the graph
# checks and the expression and file-pattern parsers they use.
_CHECKING_CODE = ("spec", "graph", "schemas", "expressions", "files")


def checking_code_id(package: Path = _PACKAGE) -> str:
    """A digest of the checking code as installed: names, sizes, modification times."""
    entries: list[str] = []
    for folder in _CHECKING_CODE:
        try:
            with os.scandir(package / folder) as found:
                for entry in found:
                    if entry.name.endswith((".py", ".json")) and entry.is_file():
                        info = entry.stat()
                        entries.append(f"{folder}/{entry.name}:{info.st_size}:{info.st_mtime_ns}")
        except OSError:
            entries.append(f"{folder}:unreadable")
    entries.sort()
    text = "\n".join(entries).encode("utf-8", "surrogateescape")
    return hashlib.sha256(text).hexdigest()[:16]


class CheckedSpecFiles:
    """The markers of one state directory, for the checking code now running."""

    def __init__(self, state_dir: Path, code_id: str | None = None) -> None:
        self.root = os.path.join(state_dir, CHECKED_DIR, code_id or checking_code_id())  # noqa: PTH118

    def passed(self, digest: str) -> bool:
        return os.path.isfile(os.path.join(self.root, digest))  # noqa: PTH113, PTH118

    def remember(self, digest: str) -> None:
        try:
            os.makedirs(self.root, mode=0o700, exist_ok=True)  # noqa: PTH103
            fd = os.open(
                os.path.join(self.root, digest),  # noqa: PTH118
                os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
            )
            os.close(fd)
        except OSError:
            pass  # the next run checks the file again: slower, never wrong
