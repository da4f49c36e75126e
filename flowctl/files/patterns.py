"""`sources:`/`generates:` patterns: rendering their templates and matching files on disk."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from stat import S_ISREG
from typing import Any

from flowctl.files.globwalk import walk


def is_glob(pattern: str) -> bool:
    # Three substring tests: a generator over the characters cost a microsecond a path.
    return "*" in pattern or "?" in pattern or "[" in pattern


def render_patterns(patterns: Sequence[str], names: Mapping[str, Any]) -> tuple[str, ...]:
    """Each pattern with its `{{ }}` rendered (ExpressionError if one fails)."""
    from flowctl.expressions import is_template

    if not any(is_template(p) for p in patterns):
        return tuple(patterns)  # no Jinja2 to import
    from flowctl.expressions import compile_template

    return tuple(compile_template(p).render(names) if is_template(p) else p for p in patterns)


def expand(pattern: str, root: Path) -> list[str]:
    """Files (not directories) matching `pattern` under `root`, as sorted relative paths.

    `**` matches any number of directories; `*` does not match a leading dot, as in a
    shell. An absolute pattern matches absolute paths.
    """
    # os.path, not pathlib: a no-op run checks a few paths per step, and pathlib's object
    # per call cost half of that (measured on a 200-step build).
    base = str(root)
    if not is_glob(pattern):
        path = pattern if os.path.isabs(pattern) else os.path.join(base, pattern)  # noqa: PTH117, PTH118
        return [_clean(pattern)] if os.path.isfile(path) else []  # noqa: PTH113
    found = walk(pattern, base)
    if found is not None:
        return sorted(found)
    return _globbed(pattern, base, files_only=True)


def stat_sources(patterns: Iterable[str], root: Path) -> dict[str, os.stat_result]:
    """Every regular file (symlinks followed) matching any of `patterns`, with its stat.

    Keys are the paths `expand` gives. A literal path, or a match of a pattern left to
    glob, is stat'ed by its normalised path; what is no regular file is left out.
    """
    base = str(root)
    found: dict[str, os.stat_result] = {}
    for pattern in patterns:
        if is_glob(pattern):
            walked = walk(pattern, base)
            if walked is not None:
                found.update(walked)
                continue
            paths = _globbed(pattern, base, files_only=False)
        else:
            paths = [_clean(pattern)]
        prefix = base + os.sep
        for rel in paths:
            try:
                info = os.stat(rel if rel.startswith("/") else prefix + rel)  # noqa: PTH116
            except (OSError, ValueError):
                continue  # vanished, or no name at all (a NUL): not a source
            if S_ISREG(info.st_mode):
                found[rel] = info
    return found


def _globbed(pattern: str, base: str, *, files_only: bool) -> list[str]:
    """glob's answer, for the patterns globwalk leaves to it (`..`, `//`, ...)."""
    # glob.glob, not Path.glob: it follows shell rules for leading dots.
    import glob  # only for these patterns

    if os.path.isabs(pattern):  # noqa: PTH117
        found = glob.glob(pattern, recursive=True)  # noqa: PTH207
        return sorted(p for p in found if not files_only or os.path.isfile(p))  # noqa: PTH113
    found = glob.glob(pattern, root_dir=base, recursive=True)  # noqa: PTH207
    if files_only:
        join, isfile = os.path.join, os.path.isfile
        found = [p for p in found if isfile(join(base, p))]
    if os.sep == "/":
        # glob joins with "/" and never yields "." or ".." parts from a relative pattern
        # without them: only "./" prefixes and doubled slashes need normalising.
        if "./" in pattern or "//" in pattern:
            return sorted({_clean(p) for p in found})
        return sorted(set(found))  # a pattern with two `**` can match a path twice
    return sorted(_clean(p) for p in found)


def _clean(path: str) -> str:
    return os.path.normpath(path).replace(os.sep, "/")
