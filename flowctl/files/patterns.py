"""`sources:`/`generates:` patterns: rendering their templates and matching files on disk."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any


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


def expand(pattern: str, root: Path, *, files_only: bool = True) -> list[str]:
    """Files (not directories) matching `pattern` under `root`, as sorted relative paths.

    `**` matches any number of directories; `*` does not match a leading dot, as in a
    shell. An absolute pattern matches absolute paths. With `files_only=False` the paths
    are not checked (no stat each): the caller stats them anyway and drops what is no file.
    """
    # os.path, not pathlib: a no-op run checks a few paths per step, and pathlib's object
    # per call cost half of that (measured on a 200-step build).
    absolute = os.path.isabs(pattern)  # noqa: PTH117
    base = str(root)
    if not is_glob(pattern):
        path = pattern if absolute else os.path.join(base, pattern)  # noqa: PTH118
        return [_clean(pattern)] if not files_only or os.path.isfile(path) else []  # noqa: PTH113
    # glob.glob, not Path.glob: it follows shell rules for leading dots and is faster.
    if absolute:
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


def expand_all(patterns: Iterable[str], root: Path, *, files_only: bool = True) -> list[str]:
    """Every file matching any of `patterns`, sorted, each once."""
    patterns = list(patterns)
    if len(patterns) == 1:
        return expand(patterns[0], root, files_only=files_only)
    seen: set[str] = set()
    for pattern in patterns:
        seen.update(expand(pattern, root, files_only=files_only))
    return sorted(seen)


def _clean(path: str) -> str:
    return os.path.normpath(path).replace(os.sep, "/")
