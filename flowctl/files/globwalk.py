"""The files a glob pattern matches, found in one walk of the directories it can reach.

The answer equals `glob.glob(pattern, root_dir=root, recursive=True)` with what is not a
regular file (following symlinks) left out, as `tests/files/test_globwalk.py` checks on
generated trees. It is found faster: glob lists every directory under a `**` twice (once
for the directories, once more for the names), joins and matches each name in Python
generators, and the caller then stats each match again. Here each directory is listed
once, for all the places in the pattern it can stand at (the pattern's segments are the
states of a small automaton), a name is matched with one compiled regular expression,
`d_type` says for free which entries are directories, and each match is stat'ed once,
relative to its open directory (about 15% cheaper than a stat of the whole path); the
stat results are handed back, since a source's modification time and size are what the
up-to-date check wants next.

glob's rules kept: `**` (a whole segment) matches any number of directories, following
symlinks to directories, and like `*` and `?` never a name starting with a dot unless the
pattern's segment starts with one; a segment without wildcards is looked up directly, not
listed, so the walk starts at the pattern's fixed prefix. Patterns this walk does not
take (`..` or `.` segments past a leading `./`, doubled or trailing slashes, a non-POSIX
`os.sep`) return None: the caller uses glob for them.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from collections.abc import Callable
from stat import S_ISDIR, S_ISREG

_LITERAL, _MAGIC, _GLOBSTAR = 0, 1, 2
_MAGIC_CHARS = re.compile(r"[*?[]")  # glob.has_magic
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
# A name in a directory whose path is shorter than this can be stat'ed relative to the open
# directory with the same answer as a stat of the whole path (PATH_MAX 4096, NAME_MAX 255).
_SHORT_PATH = 4096 - 256 - 2

Segment = tuple[int, str, Callable[[str], object] | None, bool]  # kind, text, match, dot


def _segment(text: str) -> Segment:
    if text == "**":
        return (_GLOBSTAR, text, None, False)
    if _MAGIC_CHARS.search(text):
        # fnmatch.filter matches each name so (normcase is the identity on POSIX).
        return (_MAGIC, text, re.compile(fnmatch.translate(text)).match, text[0] == ".")
    return (_LITERAL, text, None, False)


def parse(pattern: str) -> tuple[bool, tuple[Segment, ...]] | None:
    """(absolute, segments), or None for a pattern left to glob."""
    if os.sep != "/" or "//" in pattern or pattern.endswith("/"):
        return None
    absolute = pattern.startswith("/")
    body = pattern[1:] if absolute else pattern
    if not absolute:
        while body.startswith("./"):  # glob's "./x" results are cleaned to "x" anyway
            body = body[2:]
    if not body or body.startswith("/"):
        return None
    texts = body.split("/")
    if "." in texts or ".." in texts:
        return None  # glob keeps them in results, then they are normalised: left to glob
    return absolute, tuple(_segment(t) for t in texts)


def walk(pattern: str, root: str) -> dict[str, os.stat_result] | None:
    """Regular files (symlinks followed) matching `pattern`, relative to `root` (absolute
    patterns give absolute paths), with their stat; None when the pattern is left to glob.
    """
    parsed = parse_cached(pattern)
    if parsed is None:
        return None
    absolute, segments = parsed
    last = len(segments) - 1
    found: dict[str, os.stat_result] = {}
    # (directory path, the result prefix that spells it, the states active there)
    start = ("", "/") if absolute else (root.rstrip("/"), "")  # "" is "/" (for joining)
    stack: list[tuple[str, str, frozenset[int]]] = [(*start, _closure(segments, {0}))]
    seen: set[tuple[str, int]] = set()
    while stack:
        path, rel, active = stack.pop()
        states = [i for i in sorted(active) if (rel, i) not in seen]
        if not states:
            continue
        seen.update((rel, i) for i in states)
        listed = []
        for i in states:
            kind, text = segments[i][0], segments[i][1]
            if kind != _LITERAL:
                listed.append(i)
            elif i == last:
                info = _stat(f"{path}/{text}")
                if info is not None and S_ISREG(info.st_mode):
                    found[rel + text] = info
            else:  # looked up, not listed (glob's rule, and the walk's fixed prefix)
                stack.append((f"{path}/{text}", f"{rel}{text}/", _closure(segments, {i + 1})))
        if listed:
            _scan(path, rel, listed, segments, found, stack)
    return found


def _scan(
    path: str,
    rel: str,
    states: list[int],
    segments: tuple[Segment, ...],
    found: dict[str, os.stat_result],
    stack: list[tuple[str, str, frozenset[int]]],
) -> None:
    """List one directory once for all its states: record matching files, queue subdirs."""
    last = len(segments) - 1
    stars = frozenset(i for i in states if segments[i][0] == _GLOBSTAR)
    star_last = last in stars  # a trailing `**`: every (non-hidden) file below matches
    stars_below = _closure(segments, set(stars)) if stars else None  # `**` goes on below
    magics = [(segments[i][2], segments[i][3], i) for i in states if segments[i][0] == _MAGIC]
    try:
        fd = os.open(path or "/", _DIR_FLAGS)
    except (OSError, ValueError):  # ValueError: a NUL in a pattern's literal segment
        return  # missing, no directory, unreadable: glob finds nothing there either
    short = len(path) < _SHORT_PATH
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                name = entry.name
                hidden = name[0] == "."
                is_match = star_last and not hidden
                below = None if hidden else stars_below
                for match, dot, i in magics:
                    if (dot or not hidden) and match is not None and match(name):
                        if i == last:
                            is_match = True
                        else:
                            below = _closure(segments, {*(below or ()), i + 1})
                if not is_match and not below:
                    continue
                try:
                    if short and not entry.is_symlink():
                        info = entry.stat() if is_match else None
                        is_dir = bool(below) and entry.is_dir()
                    else:  # as glob: the whole path, so symlink loops end where its do
                        info = _stat(f"{path}/{name}")
                        is_dir = info is not None and S_ISDIR(info.st_mode)
                except OSError:
                    continue
                if is_match and info is not None and S_ISREG(info.st_mode):
                    found[rel + name] = info
                if below and is_dir:
                    stack.append((f"{path}/{name}", f"{rel}{name}/", below))
    finally:
        os.close(fd)


@functools.lru_cache(maxsize=1024)
def parse_cached(pattern: str) -> tuple[bool, tuple[Segment, ...]] | None:
    return parse(pattern)


def _closure(segments: tuple[Segment, ...], states: set[int]) -> frozenset[int]:
    """The states plus those a `**` reaches by matching no directory."""
    todo = list(states)
    out = set(states)
    while todo:
        i = todo.pop()
        if segments[i][0] == _GLOBSTAR and i + 1 < len(segments) and i + 1 not in out:
            out.add(i + 1)
            todo.append(i + 1)
    return frozenset(out)


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)  # noqa: PTH116 (a str path: no object per file)
    except (OSError, ValueError):  # ValueError: a NUL in the name
        return None
