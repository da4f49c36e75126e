"""Is a step up to date? Its fingerprint now, compared with the record of its last success.

A step is up to date when its fingerprint (the digests of its source files, its rendered
command or function reference, its params and its declared env) equals the recorded one
and each `generates` pattern matches exactly the files it matched after that run. Source
files whose modification time and size equal the record's keep their recorded digest
without being read, as go-task and Bazel do: an unchanged tree costs one stat per file
(and when all of them are unchanged, one digest of their paths, times and sizes compared
with the record's stands for the lot).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from operator import attrgetter
from pathlib import Path
from typing import Any

from msgspec import Struct

from flowctl.files.hashing import bytes_digest, file_digest, json_digest
from flowctl.files.patterns import expand, stat_sources
from flowctl.state.fingerprints import SourceTable, StepFiles, stamps_digest

_MTIME, _SIZE = attrgetter("st_mtime_ns"), attrgetter("st_size")
_SHOWN = 3  # paths named in a reason before "and N more"


class Definition(Struct, frozen=True, kw_only=True):
    """What a step does, rendered: the parts of its fingerprint besides its sources."""

    command: Any  # JSON: the rendered script and its values, or the function reference
    params: Any
    env: Mapping[str, str]
    sources: tuple[str, ...]  # rendered patterns
    generates: tuple[str, ...]


class Snapshot(Struct, frozen=True, kw_only=True):
    """A step's files and fingerprint as they are now."""

    root: Path
    fingerprint: str
    parts: Mapping[str, str]
    stamps: str  # stamps_digest of the sources now
    table: SourceTable | None  # None: the previous record's, unchanged (not decoded)
    previous: StepFiles | None
    generates: Mapping[str, tuple[str, ...]]

    @property
    def sources(self) -> SourceTable:
        if self.table is not None:
            return self.table
        assert self.previous is not None
        return self.previous.sources

    @property
    def restamped(self) -> bool:
        """Some source's time or size differs from the record's (its digest may not)."""
        return self.previous is None or self.stamps != self.previous.stamps

    def record(
        self,
        generated: Mapping[str, tuple[str, ...]],
        outputs: Mapping[str, Any],
        run_id: str | None,
    ) -> StepFiles:
        return StepFiles.of(
            fingerprint=self.fingerprint,
            parts=self.parts,
            sources=self.sources,
            stamps=self.stamps,
            generates=generated,
            outputs=outputs,
            run_id=run_id,
        )


def stamp_sources(
    found: Mapping[str, os.stat_result], root: Path, previous: SourceTable
) -> SourceTable:
    """The sources as a table; a recorded digest is reused when mtime and size match."""
    index = {path: i for i, path in enumerate(previous.paths)}
    old_mtimes, old_sizes, old_digests = previous.mtimes, previous.sizes, previous.digests
    table = SourceTable.empty()
    base = str(root) + os.sep
    for rel in sorted(found):
        info = found[rel]
        mtime, size = info.st_mtime_ns, info.st_size
        i = index.get(rel)
        if i is not None and old_mtimes[i] == mtime and old_sizes[i] == size:
            digest = old_digests[i]
        else:
            try:
                digest = file_digest(Path(rel if rel.startswith("/") else base + rel))
            except OSError:
                continue  # vanished since the stat: not a source any more
        table.paths.append(rel)
        table.mtimes.append(mtime)
        table.sizes.append(size)
        table.digests.append(digest)
    return table


def sources_digest(table: SourceTable) -> str:
    # The paths are sorted and unique: no sort needed here.
    return json_digest([[p, d] for p, d in zip(table.paths, table.digests, strict=True)])


def take_snapshot(definition: Definition, root: Path, previous: StepFiles | None) -> Snapshot:
    """Glob, stat and (where needed) hash the step's files now.

    When every source's path, time and size equal the record's (one digest compared), the
    recorded digest of the sources is the digest now: no file is read, no per-file record
    decoded.
    """
    found = stat_sources(definition.sources, root)
    paths = sorted(found)
    stats = list(map(found.__getitem__, paths))
    stamps = stamps_digest(paths, list(map(_MTIME, stats)), list(map(_SIZE, stats)))
    table: SourceTable | None = None
    recorded = previous.parts.get("sources") if previous is not None else None
    if previous is not None and recorded is not None and stamps == previous.stamps:
        digest = recorded
    else:
        table = stamp_sources(
            found, root, previous.sources if previous is not None else SourceTable.empty()
        )
        if len(table.paths) != len(paths):  # a file vanished while it was hashed
            stamps = table.stamps()
        digest = sources_digest(table)
    parts = {
        "sources": digest,
        "command": json_digest(
            [definition.command, list(definition.generates), list(definition.sources)]
        ),
        "params": json_digest(definition.params),
        "env": json_digest(dict(definition.env)),
    }
    fingerprint = bytes_digest("\0".join(parts[k] for k in sorted(parts)).encode())
    return Snapshot(
        root=root,
        fingerprint=fingerprint,
        parts=parts,
        stamps=stamps,
        table=table,
        previous=previous,
        generates=matched(definition.generates, root),
    )


def matched(patterns: Sequence[str], root: Path) -> dict[str, tuple[str, ...]]:
    """Each `generates` pattern with the files it matches now."""
    return {pattern: tuple(expand(pattern, root)) for pattern in patterns}


def missing_generated(generated: Mapping[str, tuple[str, ...]]) -> list[str]:
    """The patterns that matched no file (after a run, each must match at least one)."""
    return [pattern for pattern, files in generated.items() if not files]


def stale_reason(now: Snapshot, before: StepFiles | None) -> str | None:
    """None when the step is up to date; else why not, in a few words."""
    if before is None:
        return "no successful run recorded"
    for pattern, files in now.generates.items():
        old = set(before.generates.get(pattern, ()))
        gone = sorted(old - set(files))
        if gone:
            return f"generated file missing: {_some(gone)}"
        if pattern not in before.generates:
            return "generates changed"
        new = sorted(set(files) - old)
        if new:
            return f"generated files differ: {_some(new)} appeared"
    if now.fingerprint == before.fingerprint:
        return None
    if now.parts.get("sources") != before.parts.get("sources"):
        return _sources_reason(now.sources, before.sources)
    for part, words in (
        ("command", "the command changed"),
        ("params", "params changed"),
        ("env", "env changed"),
    ):
        if now.parts.get(part) != before.parts.get(part):
            return words
    return "fingerprint changed"


def _sources_reason(now_table: SourceTable, before_table: SourceTable) -> str:
    now, before = now_table.digest_of(), before_table.digest_of()
    changed = sorted(p for p, d in now.items() if p in before and before[p] != d)
    added = sorted(p for p in now if p not in before)
    removed = sorted(p for p in before if p not in now)
    words = []
    if changed:
        words.append(f"source changed: {_some(changed)}")
    if added:
        words.append(f"source added: {_some(added)}")
    if removed:
        words.append(f"source removed: {_some(removed)}")
    return "; ".join(words) or "sources changed"


def _some(paths: Sequence[str]) -> str:
    shown = ", ".join(paths[:_SHOWN])
    more = len(paths) - _SHOWN
    return f"{shown} and {more} more" if more > 0 else shown
