"""The walk that matches `sources`/`generates` patterns finds exactly what glob found.

The reference is the matching flowctl did before the walk: `glob.glob(recursive=True)`,
normalised, then filtered to regular files (following symlinks). Trees are generated with
dot files, nested directories, symlinks to files and directories, and broken symlinks.
"""

from __future__ import annotations

import glob
import os
import tempfile
from pathlib import Path
from stat import S_ISREG

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowctl.files.globwalk import parse, walk
from flowctl.files.patterns import expand, stat_sources

NAMES = ["a", "b", "ab.c", "x.c", ".h", ".h.c", "d.o", "[x]"]
SEGMENTS = [*NAMES, "*", "**", "?", "*.c", ".*", "a*", "[ab]*", "[!a]*", "*.[co]", "?.c", "a**"]


def glob_files(pattern: str, root: Path, *, stat_cleaned: bool) -> list[str]:
    """What flowctl matched before the walk (the old patterns.expand, then its filter)."""
    base = str(root)
    if os.path.isabs(pattern):
        found = glob.glob(pattern, recursive=True)
    else:
        found = glob.glob(pattern, root_dir=base, recursive=True)
    out = set()
    for raw in found:
        if raw.endswith("/"):
            # `**` matching no directory: glob's "x/" is a directory. (Before the walk,
            # the normalising of "./x/**" dropped that slash, and a file "x" became a
            # source of that pattern, though not of "x/**": the walk fixed that quirk.)
            continue
        clean = os.path.normpath(raw) if ("./" in pattern or "//" in pattern) else raw
        if os.path.isabs(pattern):
            clean = raw  # absolute matches were never normalised
        # generates checked the path glob gave; sources stat'ed the normalised one
        target = clean if stat_cleaned else raw
        full = target if os.path.isabs(target) else os.path.join(base, target)
        try:
            if S_ISREG(os.stat(full).st_mode):
                out.add(clean)
        except OSError:
            pass
    return sorted(out)


def build_tree(root: Path, files: list[tuple[str, ...]], links: list[tuple[int, int, int]]) -> None:
    """Regular files at `files`; then symlinks: (where, target, kind) indices into them."""
    made: list[Path] = []
    for parts in files:
        path = root.joinpath(*parts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                path.write_text("/".join(parts))
                made.append(path)
        except OSError:  # a file where a directory is wanted, or the reverse: skip
            continue
    dir_links: list[Path] = []
    for where, target, kind in links:
        if not made:
            return
        place = made[where % len(made)].parent / f"l{len(dir_links)}{where}{kind}"
        goal = made[target % len(made)]
        if kind == 1:
            goal = goal.parent  # a directory: no loops (never an ancestor, nor holding links)
            if place.is_relative_to(goal) or any(d.is_relative_to(goal) for d in dir_links):
                continue
            if any(goal.is_relative_to(d.parent) for d in dir_links):
                continue
            dir_links.append(place)
        elif kind == 2:
            goal = goal.parent / "missing"  # broken
        if place.exists() or place.is_symlink():
            continue
        place.symlink_to(goal)


trees = st.tuples(
    st.lists(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4).map(tuple), max_size=25),
    st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 2)), max_size=4),
)
patterns = st.tuples(
    st.sampled_from(["", "./", "././"]),
    st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=4),
)


def _blurred(segment: str, how: int) -> str:
    """A segment of a real path made a wildcard that still matches it (or `**`)."""
    return [segment, "*", "**", segment[0] + "*", "?" * len(segment), f"[{segment[0]}]*"][how]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tree=trees,
    wanted=st.lists(patterns, min_size=1, max_size=6),
    absolute=st.booleans(),
    data=st.data(),
)
def test_walk_finds_what_glob_finds(
    tree: tuple[list[tuple[str, ...]], list[tuple[int, int, int]]],
    wanted: list[tuple[str, list[str]]],
    absolute: bool,
    data: st.DataObject,
) -> None:
    for parts in tree[0][:3]:  # patterns blurred from the tree's own paths match often
        hows = data.draw(st.lists(st.integers(0, 5), min_size=len(parts), max_size=len(parts)))
        segments = [_blurred(p, h) for p, h in zip(parts, hows, strict=True)]
        if data.draw(st.booleans()):
            segments.insert(0, "**")
        wanted.append(("", segments))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        build_tree(root, *tree)
        for prefix, segments in wanted:
            text = prefix + "/".join(segments)
            if absolute:
                text = f"{root}/{'/'.join(segments)}"
            assert expand(text, root) == glob_files(text, root, stat_cleaned=False), text
            stats = stat_sources([text], root)
            assert sorted(stats) == glob_files(text, root, stat_cleaned=True), text
            for rel, info in stats.items():
                full = rel if absolute else os.path.join(root, rel)
                assert info.st_mtime_ns == os.stat(full).st_mtime_ns
                assert info.st_size == os.stat(full).st_size
        texts = [prefix + "/".join(segments) for prefix, segments in wanted]
        union = sorted({p for t in texts for p in glob_files(t, root, stat_cleaned=True)})
        assert sorted(stat_sources(texts, root)) == union


def test_a_symlink_loop_ends_where_glob_ends(tmp_path: Path) -> None:
    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "sub" / "m.c").write_text("m")
    (tmp_path / "src" / "top.c").write_text("t")
    (tmp_path / "src" / "sub" / "loop").symlink_to("..")
    for pattern in ("src/**/*.c", "src/**", "src/*/loop/*.c"):
        found = expand(pattern, tmp_path)
        assert found == glob_files(pattern, tmp_path, stat_cleaned=False)
        assert sorted(stat_sources([pattern], tmp_path)) == found
    assert "src/sub/loop/sub/loop/top.c" in expand("src/**/*.c", tmp_path)


def test_a_trailing_globstar_matches_below_a_directory_only(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a file, not a directory")
    for pattern in ("a/**", "./a/**"):
        assert expand(pattern, tmp_path) == []
        assert stat_sources([pattern], tmp_path) == {}


def test_hidden_names_need_a_dot_in_the_pattern(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.c").write_text("")
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / ".e.c").write_text("")
    (tmp_path / "s" / "f.c").write_text("")
    assert expand("**/*.c", tmp_path) == ["s/f.c"]
    assert expand("**/.*.c", tmp_path) == ["s/.e.c"]
    assert expand(".git/*.c", tmp_path) == [".git/x.c"]
    assert expand(".*/*.c", tmp_path) == [".git/x.c"]


@pytest.mark.parametrize(
    "pattern", ["../x/*.c", "src/../*.c", "a//*.c", "src/*/", "a/./*.c", "/a/./b/*.c", "*/."]
)
def test_patterns_left_to_glob(pattern: str) -> None:
    assert parse(pattern) is None
    assert walk(pattern, "/") is None


def test_patterns_the_walk_takes() -> None:
    assert parse("./src/**/*.c") == parse("src/**/*.c")
    parsed = parse("/abs/*.c")
    assert parsed is not None and parsed[0] is True
