"""Big step outputs kept once, in the journal, and read back when something reads them.

A step's outputs are written to audit.jsonl when it finishes. Keeping them in memory as
well made a run's memory grow with the number of steps times their output size (a loop
of 300 items printing 1 MiB each held 300 MiB of stdout, and peaked at 3 GB). Once a
step's finished event is in the journal, outputs of at least SHELVE_BYTES (as journaled)
are replaced in memory by a `StoredOutputs`: the step's output names and where its line
lies in the journal. Reading one value (`steps.x.outputs.stdout`, or a loop's
`iterations[3].child.stdout`) reads that one line; a few recently read steps are kept.

Only outputs the journal holds exactly are shelved: plain JSON (dicts with string keys,
lists, strings, finite numbers, booleans, null) that masking left unchanged. A step whose
outputs contain a secret keeps them in memory, since the journal has only the masked text;
so does a step with rollback actions (its compensation reads them).
"""

from __future__ import annotations

import collections
import math
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from msgspec import Struct
from msgspec.structs import replace

from flowctl.errors import StateError
from flowctl.state.audit import AuditEvent
from flowctl.state.nofollow import describe_open_error, open_state_file
from flowctl.state.strictjson import loads_strict

_FINISHED = frozenset({"step_completed", "step_failed"})
SHELVE_BYTES = 8 * 1024  # a finished event line at least this long has its outputs shelved
CACHE_BYTES = 8 * 1024 * 1024  # journal lines of recently read outputs kept parsed
_PLAIN_DEPTH = 64  # deeper outputs stay in memory (the check is recursive)


class Spot(Struct, frozen=True):
    """Where one finished event lies in the journal: its line's offset and length."""

    offset: int
    length: int
    seq: int


class OutputShelf:
    """Finished steps' journal spots (from the journal observer), and reading them back.

    Used from the run's event loop; reads may come from other threads (a Python step
    reading a loop's outputs), hence the lock around the cache.
    """

    def __init__(self, journal: Path) -> None:
        self.journal = journal
        self._spots: dict[str, Spot] = {}
        self._cache: collections.OrderedDict[Spot, dict[str, Any]] = collections.OrderedDict()
        self._cached_bytes = 0
        self._lock = threading.Lock()

    def note(self, qid: str, spot: Spot) -> None:
        """The journal observer wrote `qid`'s finished event, with its outputs, at `spot`."""
        self._spots[qid] = spot

    def shelve(
        self,
        qid: str,
        outputs: Mapping[str, Any],
        journaled: Mapping[str, Any],
        digest: str | None,
    ) -> Mapping[str, Any]:
        """`outputs`, or a StoredOutputs in their place when the journal holds them exactly.

        `journaled` is what the finished event carried (the masked outputs); `digest` the
        outputs' sha256_json when known (computed here otherwise).
        """
        spot = self._spots.pop(qid, None)
        if spot is None or spot.length < SHELVE_BYTES or isinstance(outputs, StoredOutputs):
            return outputs
        plain = all(type(k) is str and _plain_json(v, 1) for k, v in outputs.items())
        if not plain or journaled != outputs:
            return outputs
        if digest is None:
            from flowctl.runner.engine.rundata import sha256_json

            digest = sha256_json(outputs)
        return StoredOutputs(self, qid, spot, tuple(outputs), digest or "")

    def from_journal(self, event: AuditEvent, offset: int, length: int) -> AuditEvent:
        """A big finished event read back (resume), its outputs kept as a reference.

        The journal's outputs are what a resumed run restores anyway (masked, plain JSON):
        the reference reads the same line again when a value is read.
        """
        outputs = event.data.get("outputs")
        if event.step is None or event.event not in _FINISHED or type(outputs) is not dict:
            return event
        from flowctl.runner.engine.rundata import sha256_json

        spot = Spot(offset, length, event.seq)
        stored = StoredOutputs(self, event.step, spot, tuple(outputs), sha256_json(outputs) or "")
        return replace(event, data={**event.data, "outputs": stored})

    def load(self, qid: str, spot: Spot) -> dict[str, Any]:
        """The outputs journaled at `spot` (the dict is shared: do not change it)."""
        with self._lock:
            hit = self._cache.get(spot)
            if hit is not None:
                self._cache.move_to_end(spot)
                return hit
        outputs = self._read(qid, spot)
        with self._lock:
            self._cache[spot] = outputs
            self._cached_bytes += spot.length
            while self._cached_bytes > CACHE_BYTES and len(self._cache) > 1:
                old, _ = self._cache.popitem(last=False)
                self._cached_bytes -= old.length
        return outputs

    def _read(self, qid: str, spot: Spot) -> dict[str, Any]:
        try:
            fd = open_state_file(self.journal, os.O_RDONLY)
        except OSError as exc:
            reason = describe_open_error(self.journal, exc)
            raise StateError(
                f"cannot read the outputs of step '{qid}' from {self.journal}: {reason}"
            ) from exc
        try:
            raw = os.pread(fd, spot.length, spot.offset)
        finally:
            os.close(fd)
        try:
            line = loads_strict(raw)
        except (ValueError, RecursionError):
            line = None
        data = line.get("data") if isinstance(line, dict) else None
        outputs = data.get("outputs") if isinstance(data, dict) else None
        if (
            not isinstance(line, dict)
            or line.get("step") != qid
            or line.get("seq") != spot.seq
            or not isinstance(outputs, dict)
        ):
            raise StateError(
                f"the outputs of step '{qid}' are no longer where the run wrote them in "
                f"{self.journal} (the journal was changed during the run)"
            )
        return outputs


class StoredOutputs(Mapping[str, Any]):
    """A finished step's outputs, read from the journal when a value is read.

    Behaves as the read-only mapping the outputs were (keys in order, equality);
    expressions turn it into plain data like any mapping. Its repr names the step and
    the keys, not the values (`load()` or `dict()` reads them).
    """

    __slots__ = ("_keys", "_qid", "_shelf", "_spot", "sha256")

    def __init__(
        self, shelf: OutputShelf, qid: str, spot: Spot, keys: tuple[str, ...], sha256: str
    ) -> None:
        self._shelf = shelf
        self._qid = qid
        self._spot = spot
        self._keys = keys
        self.sha256 = sha256  # sha256_json of the outputs: a loop's digest uses it unread

    def load(self) -> dict[str, Any]:
        """All the outputs, as a new dict."""
        return dict(self._shelf.load(self._qid, self._spot))

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys:
            raise KeyError(key)
        return self._shelf.load(self._qid, self._spot)[key]

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        # Not the values: asyncio and dataclass reprs reach results, and reading every
        # step's outputs back to print them is what shelving avoids. load() has them.
        return f"<outputs of step {self._qid!r} in the journal: {', '.join(self._keys)}>"


def kept(outputs: Mapping[str, Any]) -> Mapping[str, Any]:
    """A child's outputs as a container keeps them: a copy, or the shelved reference."""
    return outputs if isinstance(outputs, StoredOutputs) else dict(outputs)


def digest_form(value: Any) -> Any:
    """What sha256_json hashes for a value json cannot write: a shelved step's digest."""
    if isinstance(value, StoredOutputs):
        return {"sha256": value.sha256}
    return str(value)


def _plain_json(value: Any, depth: int) -> bool:
    """True when writing `value` as JSON and reading it back gives an equal value."""
    if value is None or isinstance(value, str | bool | int):
        return type(value) in (str, bool, int) or value is None
    if isinstance(value, float):
        return type(value) is float and math.isfinite(value)
    if depth >= _PLAIN_DEPTH:
        return False
    if type(value) is dict:
        return all(type(k) is str and _plain_json(v, depth + 1) for k, v in value.items())
    if type(value) is list:
        return all(_plain_json(v, depth + 1) for v in value)
    return False
