"""Is a step up to date? Its fingerprint now, compared with the record of its last success.

A step is up to date when its fingerprint (the digests of its source files, its rendered
command or function reference, its params and its declared env) equals the recorded one
and each `generates` pattern matches exactly the files it matched after that run. Source
files whose modification time and size equal the record's keep their recorded digest
without being read, as go-task and Bazel do: an unchanged tree costs one stat per file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from stat import S_ISREG
from typing import Any

from msgspec import Struct

from flowctl.files.hashing import bytes_digest, file_digest, json_digest
from flowctl.files.patterns import expand, expand_all
from flowctl.state.fingerprints import FileStamp, StepFiles

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
    sources: Mapping[str, FileStamp]
    generates: Mapping[str, tuple[str, ...]]

    def record(
        self,
        generated: Mapping[str, tuple[str, ...]],
        outputs: Mapping[str, Any],
        run_id: str | None,
    ) -> StepFiles:
        return StepFiles(
            fingerprint=self.fingerprint,
            parts=self.parts,
            sources=self.sources,
            generates=generated,
            outputs=outputs,
            run_id=run_id,
        )


def stamp_sources(
    paths: Sequence[str], root: Path, previous: Mapping[str, FileStamp]
) -> dict[str, FileStamp]:
    """A stamp per source file; the recorded digest is reused when mtime and size match.

    Paths that are no regular file (a directory a pattern matched) are left out: the one
    stat per path here is also the check that it is a file.
    """
    stamps: dict[str, FileStamp] = {}
    base = str(root) + os.sep
    stat, regular, get = os.stat, S_ISREG, previous.get
    for rel in paths:
        full = rel if rel.startswith("/") else base + rel  # an absolute pattern's match
        try:
            info = stat(full)
        except OSError:
            continue  # vanished between the glob and now: not a source any more
        if not regular(info.st_mode):
            continue
        old = get(rel)
        if old is not None and old.mtime_ns == info.st_mtime_ns and old.size == info.st_size:
            stamps[rel] = old
            continue
        try:
            digest = file_digest(Path(full))
        except OSError:
            continue
        stamps[rel] = FileStamp(info.st_mtime_ns, info.st_size, digest)
    return stamps


def take_snapshot(definition: Definition, root: Path, previous: StepFiles | None) -> Snapshot:
    """Glob, stat and (where needed) hash the step's files now."""
    paths = expand_all(definition.sources, root, files_only=False)
    stamps = stamp_sources(paths, root, previous.sources if previous is not None else {})
    parts = {
        # `paths` are sorted and unique, and stamps keep their order: no sort needed here.
        "sources": json_digest([[p, s.digest] for p, s in stamps.items()]),
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
        sources=stamps,
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


def _sources_reason(now: Mapping[str, FileStamp], before: Mapping[str, FileStamp]) -> str:
    changed = sorted(p for p, s in now.items() if p in before and before[p].digest != s.digest)
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
