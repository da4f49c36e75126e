"""What each step with `sources`/`generates` saw after its last successful run.

One small JSON file per step under `<state_dir>/fingerprints/`, named by a digest of the
workflow, the step's directory and its qualified id. Files are replaced atomically
(written beside, then renamed), so concurrent runs never read half a record: the last
run to finish wins, and either record is a true picture of a successful run.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from msgspec import Struct, field

from flowctl.errors import StateError

FINGERPRINTS_DIR = "fingerprints"
_VERSION = 1


class FileStamp(Struct, frozen=True):
    """A file's modification time and size when it was hashed, and its digest."""

    mtime_ns: int
    size: int
    digest: str


class StepFiles(Struct, frozen=True, kw_only=True):
    """One step's record: its fingerprint, what went into it, what it generated."""

    fingerprint: str
    parts: Mapping[str, str]  # "sources", "command", "params", "env" -> digest
    sources: Mapping[str, FileStamp]  # relative path -> stamp
    generates: Mapping[str, tuple[str, ...]]  # rendered pattern -> the files it matched
    outputs: Mapping[str, Any] = field(default_factory=dict)  # masked
    run_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _VERSION,
            "fingerprint": self.fingerprint,
            "parts": dict(self.parts),
            "sources": {p: [s.mtime_ns, s.size, s.digest] for p, s in self.sources.items()},
            "generates": {p: list(files) for p, files in self.generates.items()},
            "outputs": dict(self.outputs),
            "run_id": self.run_id,
        }

    @classmethod
    def from_json(cls, data: Any) -> StepFiles | None:
        """The record, or None for anything damaged or from another version."""
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            return None
        try:
            sources = {
                str(p): FileStamp(int(v[0]), int(v[1]), str(v[2]))
                for p, v in data["sources"].items()
            }
            generates = {str(p): tuple(str(f) for f in v) for p, v in data["generates"].items()}
            parts = {str(k): str(v) for k, v in data["parts"].items()}
            outputs = data.get("outputs") or {}
            if not isinstance(outputs, dict):
                return None
            run_id = data.get("run_id")
            return cls(
                fingerprint=str(data["fingerprint"]),
                parts=parts,
                sources=sources,
                generates=generates,
                outputs=outputs,
                run_id=run_id if isinstance(run_id, str) else None,
            )
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            return None


class FingerprintStore:
    """Step records of one state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / FINGERPRINTS_DIR

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def load(self, key: str) -> StepFiles | None:
        """The record stored under `key`; None when there is none or it is unreadable."""
        # A plain open of a str path: a no-op run loads one record per step, and pathlib's
        # objects cost as much as the read.
        path = os.path.join(self.root, key[:2], key + ".json")  # noqa: PTH118
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            return None
        try:
            return StepFiles.from_json(json.loads(data))
        except ValueError:  # not JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)
            return None

    def save(self, key: str, record: StepFiles) -> None:
        """Replace the record atomically. Raises StateError when it cannot be written."""
        target = self.path(key)
        text = json.dumps(record.to_json(), separators=(",", ":"), ensure_ascii=True)
        try:
            import tempfile  # only when a record is written, never on a no-op run

            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                Path(temp).replace(target)
            except BaseException:
                with contextlib.suppress(OSError):
                    Path(temp).unlink()
                raise
        except OSError as exc:
            raise StateError(f"cannot record the step's files in {target}: {exc}") from exc

    def forget(self, key: str) -> None:
        """Drop the record (a step about to run is not up to date until it succeeds)."""
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StateError(f"cannot drop the step's file record {self.path(key)}: {exc}") from exc
