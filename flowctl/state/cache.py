"""The step cache: outputs of steps with a `cache:` key, shared by concurrent runs (SQLite)."""

from __future__ import annotations

import enum
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Set
from pathlib import Path, PurePath
from typing import Any, TypeVar

from msgspec import Struct

from flowctl.closing import Closing
from flowctl.errors import StateError
from flowctl.secrets import SecretMasker

_T = TypeVar("_T")

BUSY_TIMEOUT = 10.0  # seconds a writer waits for another process's transaction
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    outputs TEXT NOT NULL,
    stored_at REAL NOT NULL,
    expires_at REAL,
    run_id TEXT
)
"""
# Fields of a step definition that only say where it is or what people call it: moving a
# step in the file or renaming it for humans must not throw its cache away.
_IGNORED_FIELDS = frozenset({"location", "key_locations", "name", "description"})


class CacheHit(Struct, frozen=True):
    outputs: Any
    stored_at: float  # time.time() of the put
    run_id: str | None  # the run that stored it


def _canonical(value: Any) -> Any:
    """Plain JSON data for any step definition (frozen Structs, enums, mappings)."""
    if isinstance(value, Struct):
        fields = {
            name: _canonical(getattr(value, name))
            for name in value.__struct_fields__
            if name not in _IGNORED_FIELDS
        }
        return {"__type__": type(value).__name__, **fields}
    if isinstance(value, enum.Enum):
        return _canonical(value.value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, Set):
        return sorted((_canonical(v) for v in value), key=repr)
    if isinstance(value, PurePath):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot hash a step definition holding {type(value).__name__}")


def definition_hash(step_definition: Any) -> str:
    """sha256 of the canonical JSON of a step definition (sorted keys, no whitespace)."""
    text = json.dumps(
        _canonical(step_definition), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def cache_key(rendered_key: str, step_definition: Any) -> str:
    """The cache key of a step: its rendered `cache.key` bound to what the step does.

    Changing the step (its command, params, mappings...) gives a new key, so a stale
    entry can never stand in for a different step.
    """
    text = json.dumps([rendered_key, definition_hash(step_definition)], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _retry_busy(action: Callable[[], _T]) -> _T:
    """Run `action`, retrying while another process holds the database.

    Switching a new file to WAL needs a moment of exclusive access, and SQLite reports
    "database is locked" without calling the busy handler when several processes open a
    new cache together (measured: 5 of 160 processes failed without this loop).
    """
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            text = str(exc).lower()
            if not ("locked" in text or "busy" in text) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class StepCache(Closing):
    """Cached step outputs in state_dir/cache.db, safe for many processes at once.

    WAL mode lets readers run beside a writer; every call is one short transaction, and
    a busy database is waited for (busy_timeout) rather than failing the step.
    With a masker, outputs are masked before they are stored: no secret reaches the disk.
    """

    def __init__(self, path: Path, *, masker: SecretMasker | None = None) -> None:
        self.path = path
        self._masker = masker
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        if self.path.is_symlink():
            # sqlite has no O_NOFOLLOW; a planted link would point the cache's writes elsewhere.
            raise StateError(
                f"cannot open step cache {self.path}: it is a symbolic link, and flowctl does"
                " not follow symlinks in its state files"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"cannot open step cache {self.path}: {exc}") from exc
        try:
            self._initialise(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise StateError(f"cannot use step cache {self.path}: {exc}") from exc
        self._conn = conn
        return conn

    @staticmethod
    def _initialise(conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        _retry_busy(lambda: conn.execute("PRAGMA journal_mode = WAL"))
        _retry_busy(lambda: conn.execute(_SCHEMA))
        conn.execute("PRAGMA synchronous = NORMAL")

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[list[Any], int]:
        """Run one statement (one transaction); return its rows and rowcount."""
        with self._lock:
            conn = self._connect()
            try:
                cursor = _retry_busy(lambda: conn.execute(sql, params))
                return cursor.fetchall(), cursor.rowcount
            except sqlite3.Error as exc:
                raise StateError(f"step cache {self.path}: {exc}") from exc

    def get(self, key: str, *, now: float | None = None) -> CacheHit | None:
        """The stored outputs for `key`, or None when absent or expired."""
        moment = time.time() if now is None else now
        rows, _ = self._execute(
            "SELECT outputs, stored_at, run_id FROM entries "
            "WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
            (key, moment),
        )
        if not rows:
            return None
        row = rows[0]
        try:
            outputs = json.loads(row[0])
        except ValueError:
            return None  # a damaged entry is a miss: the step simply runs again
        return CacheHit(outputs=outputs, stored_at=float(row[1]), run_id=row[2])

    def put(
        self,
        key: str,
        outputs: Any,
        *,
        ttl: float | None,
        run_id: str | None = None,
        now: float | None = None,
    ) -> None:
        """Store (or replace) the outputs for `key`; ttl None means they never expire."""
        moment = time.time() if now is None else now
        if self._masker:
            outputs = self._masker.mask_json(outputs)
        try:
            text = json.dumps(outputs, allow_nan=False)  # ASCII: SQLite rejects lone surrogates
        except (TypeError, ValueError) as exc:
            raise StateError(f"cannot cache step outputs that are not JSON: {exc}") from exc
        expires_at = None if ttl is None else moment + ttl
        self._execute(
            "INSERT OR REPLACE INTO entries (key, outputs, stored_at, expires_at, run_id) "
            "VALUES (?, ?, ?, ?, ?)",
            (key, text, moment, expires_at, run_id),
        )

    def clear(self) -> int:
        """Remove every entry; return how many there were."""
        return self._execute("DELETE FROM entries")[1]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
