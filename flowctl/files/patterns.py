"""`sources:`/`generates:` patterns: rendering their templates and matching files on disk."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

_GLOB_CHARS = frozenset("*?[")


def is_glob(pattern: str) -> bool:
    return any(c in _GLOB_CHARS for c in pattern)


def render_patterns(patterns: Sequence[str], names: Mapping[str, Any]) -> tuple[str, ...]:
    """Each pattern with its `{{ }}` rendered (ExpressionError if one fails)."""
    from flowctl.expressions import compile_template, is_template

    return tuple(compile_template(p).render(names) if is_template(p) else p for p in patterns)


def expand(pattern: str, root: Path) -> list[str]:
    """Files (not directories) matching `pattern` under `root`, as sorted relative paths.

    `**` matches any number of directories; `*` does not match a leading dot, as in a
    shell. An absolute pattern matches absolute paths.
    """
    # os.path, not pathlib: a no-op run checks a few paths per step, and pathlib's object
    # per call cost half of that (measured on a 200-step build).
    absolute = os.path.isabs(pattern)  # noqa: PTH117
    if not is_glob(pattern):
        path = pattern if absolute else os.path.join(root, pattern)  # noqa: PTH118
        return [_clean(pattern)] if os.path.isfile(path) else []  # noqa: PTH113
    # glob.glob, not Path.glob: it follows shell rules for leading dots and is faster.
    if absolute:
        found = glob.glob(pattern, recursive=True)  # noqa: PTH207
        return sorted(p for p in found if Path(p).is_file())
    found = glob.glob(pattern, root_dir=root, recursive=True)  # noqa: PTH207
    return sorted(_clean(p) for p in found if (root / p).is_file())


def expand_all(patterns: Iterable[str], root: Path) -> list[str]:
    """Every file matching any of `patterns`, sorted, each once."""
    seen: set[str] = set()
    for pattern in patterns:
        seen.update(expand(pattern, root))
    return sorted(seen)


def _clean(path: str) -> str:
    return os.path.normpath(path).replace(os.sep, "/")
