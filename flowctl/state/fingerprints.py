"""What each step with `sources`/`generates` saw after its last successful run.

One small file per step under `<state_dir>/fingerprints/`, named by a digest of the
workflow, the step's directory and its qualified id. Files are replaced atomically
(written beside, then renamed), so concurrent runs never read half a record: the last
run to finish wins, and either record is a true picture of a successful run.

A record is two lines of JSON. The first holds the fingerprint, its parts, what the
`generates` patterns matched, the outputs, and `stamps`: a digest of every source's path,
modification time and size. The second holds the sources as columns (paths, times, sizes,
digests). A no-op check compares the stamps digest of the tree now with the recorded one
and never decodes the second line: over 10,000 sources that line is a megabyte, and
decoding it into per-file values cost more than the stat calls (measured: 18 ms).
Version 1 records (one JSON object with a `sources` mapping) are still read.
"""

from __future__ import annotations

import contextlib
import json
import os
from array import array
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from msgspec import Struct, field
from msgspec.structs import replace

from flowctl.errors import StateError
from flowctl.files.hashing import bytes_digest

FINGERPRINTS_DIR = "fingerprints"
_VERSION = 2


def stamps_digest(paths: Sequence[str], mtimes: Sequence[int], sizes: Sequence[int]) -> str:
    """A digest of the files' paths, modification times (ns) and sizes, in that order."""
    # C-level joins and arrays, no object per file: 10,000 files cost about 1 ms. The
    # arrays are in the machine's byte order: a record carried to another machine only
    # has its files' times and sizes compared one by one.
    try:
        numbers = array("q", mtimes).tobytes() + array("q", sizes).tobytes()
    except OverflowError:  # a time past 2262
        numbers = (",".join(map(str, mtimes)) + ";" + ",".join(map(str, sizes))).encode()
    names = "\0".join(paths).encode("utf-8", "surrogatepass")
    return bytes_digest(b"%d\0%b\1%b" % (len(paths), names, numbers))


class SourceTable:
    """A step's source files as columns: sorted paths, mtime_ns, size and digest."""

    __slots__ = ("digests", "mtimes", "paths", "sizes")

    def __init__(
        self, paths: list[str], mtimes: list[int], sizes: list[int], digests: list[str]
    ) -> None:
        self.paths = paths
        self.mtimes = mtimes
        self.sizes = sizes
        self.digests = digests

    @classmethod
    def empty(cls) -> SourceTable:
        return cls([], [], [], [])

    def stamps(self) -> str:
        return stamps_digest(self.paths, self.mtimes, self.sizes)

    def digest_of(self) -> dict[str, str]:
        return dict(zip(self.paths, self.digests, strict=True))

    def to_json(self) -> dict[str, list[Any]]:
        return {
            "paths": self.paths,
            "mtimes": self.mtimes,
            "sizes": self.sizes,
            "digests": self.digests,
        }

    @classmethod
    def from_json(cls, data: Any) -> SourceTable | None:
        """The table, or None when the columns are damaged."""
        if not isinstance(data, dict):
            return None
        paths, mtimes = data.get("paths"), data.get("mtimes")
        sizes, digests = data.get("sizes"), data.get("digests")
        columns = (paths, mtimes, sizes, digests)
        if not all(isinstance(c, list) for c in columns):
            return None
        assert isinstance(paths, list) and isinstance(mtimes, list)
        assert isinstance(sizes, list) and isinstance(digests, list)
        if not len(paths) == len(mtimes) == len(sizes) == len(digests):
            return None
        typed = (
            all(type(p) is str for p in paths)
            and all(type(d) is str for d in digests)
            and all(type(m) is int for m in mtimes)
            and all(type(s) is int for s in sizes)
        )
        return cls(paths, mtimes, sizes, digests) if typed else None


class _LazyTable:
    """The record's second line, decoded the first time it is asked for."""

    __slots__ = ("_raw", "_table")

    def __init__(self, raw: bytes | None = None, table: SourceTable | None = None) -> None:
        self._raw = raw
        self._table = table

    def get(self) -> SourceTable:
        if self._table is None:
            table = None
            with contextlib.suppress(ValueError):
                table = SourceTable.from_json(json.loads(self._raw or b"null"))
            # Damaged columns cost a re-hash of every source, never a wrong verdict: the
            # recorded digest of the sources still decides.
            self._table = table or SourceTable.empty()
            self._raw = None
        return self._table


class StepFiles(Struct, frozen=True, kw_only=True):
    """One step's record: its fingerprint, what went into it, what it generated."""

    fingerprint: str
    parts: Mapping[str, str]  # "sources", "command", "params", "env" -> digest
    stamps: str  # stamps_digest of the sources below
    generates: Mapping[str, tuple[str, ...]]  # rendered pattern -> the files it matched
    outputs: Mapping[str, Any] = field(default_factory=dict)  # masked
    run_id: str | None = None
    lazy_sources: _LazyTable = field(default_factory=_LazyTable)
    legacy: bool = False  # read from a version 1 record: rewrite it in this version

    @classmethod
    def of(
        cls,
        *,
        fingerprint: str,
        parts: Mapping[str, str],
        sources: SourceTable,
        generates: Mapping[str, tuple[str, ...]],
        outputs: Mapping[str, Any],
        run_id: str | None,
        stamps: str | None = None,
    ) -> StepFiles:
        return cls(
            fingerprint=fingerprint,
            parts=parts,
            stamps=stamps if stamps is not None else sources.stamps(),
            generates=generates,
            outputs=outputs,
            run_id=run_id,
            lazy_sources=_LazyTable(table=sources),
        )

    @property
    def sources(self) -> SourceTable:
        return self.lazy_sources.get()

    def with_sources(self, sources: SourceTable, stamps: str) -> StepFiles:
        """The same record with the sources' new times and sizes (same digests)."""
        return StepFiles(
            fingerprint=self.fingerprint,
            parts=self.parts,
            stamps=stamps,
            generates=self.generates,
            outputs=self.outputs,
            run_id=self.run_id,
            lazy_sources=_LazyTable(table=sources),
        )

    def encode(self) -> bytes:
        head = {
            "version": _VERSION,
            "fingerprint": self.fingerprint,
            "parts": dict(self.parts),
            "stamps": self.stamps,
            "generates": {p: list(files) for p, files in self.generates.items()},
            "outputs": dict(self.outputs),
            "run_id": self.run_id,
        }
        # ensure_ascii: no raw newline (nor anything else) can end the first line early.
        lines = (head, self.sources.to_json())
        text = "\n".join(json.dumps(v, separators=(",", ":"), ensure_ascii=True) for v in lines)
        return text.encode("ascii")

    @classmethod
    def decode(cls, data: bytes) -> StepFiles | None:
        """The record, or None for anything damaged or from an unknown version."""
        end = data.find(b"\n")
        try:
            head = json.loads(data if end < 0 else data[:end])
        except ValueError:  # not JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)
            return None
        if not isinstance(head, dict):
            return None
        if head.get("version") == 1:
            return _version_1(head)
        if head.get("version") != _VERSION or end < 0:
            return None
        return cls._from_head(head, _LazyTable(raw=data[end + 1 :]))

    @classmethod
    def _from_head(cls, head: dict[str, Any], sources: _LazyTable) -> StepFiles | None:
        try:
            generates = {str(p): tuple(str(f) for f in v) for p, v in head["generates"].items()}
            parts = {str(k): str(v) for k, v in head["parts"].items()}
            outputs = head.get("outputs") or {}
            stamps = head["stamps"]
            if not isinstance(outputs, dict) or not isinstance(stamps, str):
                return None
            run_id = head.get("run_id")
            return cls(
                fingerprint=str(head["fingerprint"]),
                parts=parts,
                stamps=stamps,
                generates=generates,
                outputs=outputs,
                run_id=run_id if isinstance(run_id, str) else None,
                lazy_sources=sources,
            )
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            return None


def _version_1(head: dict[str, Any]) -> StepFiles | None:
    """A record written before the columns: `sources` maps a path to [mtime, size, digest]
    (its fingerprint is computed as now, so the step stays up to date)."""
    try:
        rows = sorted((str(p), int(v[0]), int(v[1]), str(v[2])) for p, v in head["sources"].items())
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        return None
    table = SourceTable(
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]
    )
    record = StepFiles._from_head({**head, "stamps": table.stamps()}, _LazyTable(table=table))
    return None if record is None else replace(record, legacy=True)


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
        return StepFiles.decode(data)

    def save(self, key: str, record: StepFiles) -> None:
        """Replace the record atomically. Raises StateError when it cannot be written."""
        target = self.path(key)
        data = record.encode()
        try:
            import tempfile  # only when a record is written, never on a no-op run

            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
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
