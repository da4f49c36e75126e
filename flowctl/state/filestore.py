"""Generated files of cached steps: a content-addressed store with a size cap and LRU.

Under `<state_dir>/files/`: `objects/<2 hex>/<digest>` holds each distinct content once;
`manifests/<2 hex>/<cache key>.json` lists a cache entry's files (path, digest, mode).
Blobs and manifests are written beside their target and renamed into place, so
concurrent runs never see half a file. A restore copies each blob back byte for byte and
sets its mode bits; a manifest whose blobs are gone is a miss, never a silent success.
Using an entry touches its files' modification times; `evict` removes the least recently
used blobs until the store fits its cap.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from msgspec import Struct

from flowctl.errors import StateError
from flowctl.files.hashing import file_digest

FILES_DIR = "files"
DEFAULT_MAX_BYTES = 2 * 1024**3
MAX_BYTES_ENV = "FLOWCTL_FILE_CACHE_MAX_BYTES"


class StoredFile(Struct, frozen=True):
    path: str  # relative to the step's directory (or absolute)
    digest: str
    mode: int  # permission bits (st_mode & 0o7777)
    size: int


def max_bytes() -> int:
    """The store's cap: $FLOWCTL_FILE_CACHE_MAX_BYTES, else 2 GiB."""
    raw = os.environ.get(MAX_BYTES_ENV, "").strip()
    if raw.isdigit():
        return int(raw)
    return DEFAULT_MAX_BYTES


def _write_atomic(target: Path, fill: str | Path, *, mode: int | None = None) -> None:
    """Write text, or copy a file, to a temporary beside `target`, then rename it there."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    temp_path = Path(temp)
    try:
        if isinstance(fill, Path):
            os.close(fd)
            shutil.copyfile(fill, temp_path)
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(fill)
        if mode is not None:
            temp_path.chmod(mode)
        temp_path.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp_path.unlink()
        raise


class FileStore:
    """The generated-files store of one state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / FILES_DIR
        self.objects = self.root / "objects"
        self.manifests = self.root / "manifests"

    def _blob(self, digest: str) -> Path:
        return self.objects / digest[:2] / digest

    def _manifest(self, key: str) -> Path:
        return self.manifests / key[:2] / f"{key}.json"

    def put(self, key: str, base: Path, paths: Iterable[str]) -> None:
        """Store these files (relative to `base`) under `key`. Raises StateError."""
        entries = []
        try:
            for rel in sorted(set(paths)):
                source = base / rel
                info = source.stat()
                digest = file_digest(source)
                blob = self._blob(digest)
                if blob.exists():
                    os.utime(blob)
                else:
                    _write_atomic(blob, source, mode=0o444)
                entries.append(StoredFile(rel, digest, stat.S_IMODE(info.st_mode), info.st_size))
            text = json.dumps(
                {"files": [[e.path, e.digest, e.mode, e.size] for e in entries]},
                separators=(",", ":"),
            )
            _write_atomic(self._manifest(key), text)
        except OSError as exc:
            raise StateError(f"cannot store generated files in {self.root}: {exc}") from exc

    def files(self, key: str) -> list[StoredFile] | None:
        """The files of an entry, or None when there is no (readable) manifest."""
        try:
            data = json.loads(self._manifest(key).read_text(encoding="utf-8"))
            return [StoredFile(str(p), str(d), int(m), int(s)) for p, d, m, s in data["files"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def restore(self, key: str, base: Path) -> list[str] | None:
        """Put an entry's files back under `base`; their paths, or None for a miss.

        A miss: no manifest, or a blob evicted or deleted. Files are restored only once
        every blob is known to be there. Raises StateError when a file cannot be written.
        """
        entries = self.files(key)
        if entries is None:
            return None
        blobs = [self._blob(e.digest) for e in entries]
        if not all(b.is_file() for b in blobs):
            return None
        now = time.time()
        try:
            for entry, blob in zip(entries, blobs, strict=True):
                _write_atomic(base / entry.path, blob, mode=entry.mode)
                os.utime(blob, (now, now))
            os.utime(self._manifest(key), (now, now))
        except FileNotFoundError:
            return None  # evicted by another run between the check and the copy
        except OSError as exc:
            raise StateError(f"cannot restore generated files from {self.root}: {exc}") from exc
        return [e.path for e in entries]

    def evict(self, cap: int) -> int:
        """Remove least recently used blobs until the store holds at most `cap` bytes."""
        blobs = []
        total = 0
        with contextlib.suppress(FileNotFoundError):
            for folder in self.objects.iterdir():
                for blob in folder.iterdir():
                    with contextlib.suppress(FileNotFoundError):
                        info = blob.stat()
                        blobs.append((info.st_mtime, info.st_size, blob))
                        total += info.st_size
        removed = 0
        for _, size, blob in sorted(blobs, key=lambda b: b[0]):
            if total <= cap:
                break
            with contextlib.suppress(FileNotFoundError):
                blob.unlink()
                removed += 1
            total -= size
        return removed

    def clear(self) -> int:
        """Remove every stored file and manifest; return how many entries there were."""
        count = sum(1 for _ in self.manifests.glob("*/*.json")) if self.manifests.is_dir() else 0
        shutil.rmtree(self.root, ignore_errors=True)
        return count
