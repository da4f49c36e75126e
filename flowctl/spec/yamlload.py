"""A hardened YAML reader that keeps the line and column of every node.

It builds plain JSON-like data straight from the parser's event stream with an explicit
stack, so hostile documents cannot recurse, expand, or smuggle objects:
- nesting deeper than `max_depth` is refused before anything is built;
- aliases may be used, but the nodes they re-expand are counted against a budget
  (billion laughs fails fast, with the alias's location);
- duplicate keys, multi-document streams and tags other than the core JSON ones are errors;
- plain scalars resolve by a JSON-like schema (YAML 1.2 core, stricter): `yes`, `on`, `no`,
  `0777`, `1:30` and dates stay strings instead of YAML 1.1's silent conversions.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import yaml
from msgspec import Struct

from flowctl.errors import Location, SpecError

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_DEPTH = 64
DEFAULT_ALIAS_BUDGET = 100_000  # nodes that aliases may re-expand, whole document
# Text that aliases may re-expand: a 4 MiB scalar aliased 100,000 times is few nodes.
DEFAULT_ALIAS_BYTES = 2 * DEFAULT_MAX_BYTES

JsonPath = tuple[str | int, ...]

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|(?:0|[1-9][0-9]*)(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")

_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")}
_ALLOWED_TAGS.add("!")  # the non-specific tag of quoted scalars


class LoadedDocument(Struct, frozen=True):
    """The data of a YAML file plus where each node came from."""

    data: Any
    source: str
    locations: Mapping[JsonPath, Location]  # path -> location of the node (the value)
    key_locations: Mapping[JsonPath, Location]  # path -> location of its mapping key
    # The text it was parsed from: finer locations inside a scalar (templatecheck) use it.
    text: str = ""

    def locate(self, path: Sequence[str | int], *, key: bool = False) -> Location:
        """The location of `path`, or of its nearest ancestor that has one."""
        p = tuple(path)
        while True:
            if key and p in self.key_locations:
                return self.key_locations[p]
            if p in self.locations:
                return self.locations[p]
            if not p:
                return Location(self.source, 1, 1)
            p = p[:-1]


def load_yaml(
    path: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    alias_budget: int = DEFAULT_ALIAS_BUDGET,
) -> tuple[LoadedDocument, bytes]:
    """Read and parse a file; returns the document and the raw bytes (for hashing)."""
    raw = read_spec_bytes(path, max_bytes)
    doc = load_yaml_bytes(raw, str(path), max_depth=max_depth, alias_budget=alias_budget)
    return doc, raw


def load_yaml_bytes(
    raw: bytes,
    source: str,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    alias_budget: int = DEFAULT_ALIAS_BUDGET,
) -> LoadedDocument:
    """Decode (UTF-8, an optional BOM) and parse the bytes of a spec."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _error(source, line, 1, "file is not valid UTF-8 text") from None
    return load_yaml_text(text, source, max_depth=max_depth, alias_budget=alias_budget)


def read_spec_bytes(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of a spec file, at most `max_bytes` of them read whatever the file claims.

    Regular files and pipes (`<(…)`) are read; a directory, a device (`/dev/zero` behind a
    symlink grows without end), a socket is refused before any byte is read.
    """
    source = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise SpecError.single(f"{source}: no such file", code="file") from None
    except IsADirectoryError:
        raise SpecError.single(
            f"{source}: is a directory, not a workflow file", code="file"
        ) from None
    except OSError as exc:
        raise SpecError.single(f"{source}: cannot read: {exc.strerror}", code="file") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise SpecError.single(f"{source}: is a directory, not a workflow file", code="file")
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
            raise SpecError.single(
                f"{source}: is a device or other special file, not a workflow file", code="file"
            )
        if info.st_size > max_bytes:
            raise _error(
                source, 1, 1, f"file is {info.st_size:,} bytes, over the {max_bytes:,}-byte limit"
            )
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as handle:
        return read_capped(handle, source, max_bytes)


def read_capped(handle: BinaryIO, source: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a stream (a file, a pipe, standard input) but never more than max_bytes + 1."""
    chunks: list[bytes] = []
    total = 0
    try:
        while total <= max_bytes:
            chunk = handle.read(min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise SpecError.single(f"{source}: cannot read: {exc.strerror}", code="file") from None
    if total > max_bytes:
        raise _error(source, 1, 1, f"file is over the {max_bytes:,}-byte limit")
    return b"".join(chunks)


def load_yaml_text(
    text: str,
    source: str = "<string>",
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    alias_budget: int = DEFAULT_ALIAS_BUDGET,
    alias_bytes: int = DEFAULT_ALIAS_BYTES,
) -> LoadedDocument:
    """Parse YAML text into a LoadedDocument; every problem is a SpecError with its location."""
    builder = _Builder(source, max_depth, alias_budget, alias_bytes)
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        for event in yaml.parse(text, Loader=loader_cls):
            builder.feed(event)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = exc.problem or exc.context or "invalid YAML"
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        hint = _plain_scalar_hint(text, line, reason)
        raise _error(source, line, col, f"invalid YAML: {reason}{hint}", code="yaml") from None
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line, col = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        reason = f"character {exc.character!r} is not allowed ({exc.reason})"
        if isinstance(exc.character, int):
            reason = f"character U+{exc.character:04X} is not allowed ({exc.reason})"
        raise _error(source, line, col, f"invalid YAML: {reason}", code="yaml") from None
    except yaml.YAMLError as exc:
        message = " ".join(str(exc).split())
        raise _error(source, 1, 1, f"invalid YAML: {message}", code="yaml") from None
    return builder.result(text)


# `key: echo "a: b"`: the second ": " makes YAML read a mapping inside a plain scalar.
_PLAIN_WITH_COLON = re.compile(r"^\s*(?:-\s+)?([A-Za-z_][\w-]*):\s+[^\s'\"|>&*!{\[#][^#]*:\s")


def _plain_scalar_hint(text: str, line: int, reason: str) -> str:
    """A hint for the classic plain-scalar mistake, `run: echo "a: b"`."""
    if "mapping values are not allowed" not in reason:
        return ""
    lines = text.splitlines()
    match = _PLAIN_WITH_COLON.match(lines[line - 1]) if 0 < line <= len(lines) else None
    if match is None:
        return ""
    key = match.group(1)
    return (
        f" (the value of '{key}' holds ': ', which YAML reads as a new key:"
        f" quote the whole value or use `{key}: |`)"
    )


def _error(source: str, line: int, col: int, message: str, *, code: str = "yaml") -> SpecError:
    return SpecError.single(message, Location(source, line, col), code=code)


class _Container:
    """A mapping or sequence under construction."""

    __slots__ = (
        "depth",
        "explicit",
        "key",
        "nbytes",
        "path",
        "pending_key",
        "pending_key_loc",
        "size",
        "value",
    )

    def __init__(self, value: dict[str, Any] | list[Any], path: JsonPath) -> None:
        self.value = value
        self.path = path
        self.pending_key: str | None = None  # mappings: the key waiting for its value
        self.pending_key_loc: Location | None = None
        self.key: bool = isinstance(value, dict)  # mappings: is the next node a key?
        self.size = 1
        self.nbytes = 0  # scalar text inside, keys included, aliases expanded
        self.depth = 1  # levels of collections, this one included, aliases expanded
        self.explicit: set[str] = set()  # keys written out, as opposed to merged by `<<`


class _Builder:
    """Turns parser events into data, enforcing the limits as it goes."""

    def __init__(
        self, source: str, max_depth: int, alias_budget: int, alias_bytes_budget: int
    ) -> None:
        self.source = source
        self.max_depth = max_depth
        self.alias_budget = alias_budget
        self.alias_bytes_budget = alias_bytes_budget
        self.alias_used = 0
        self.alias_bytes = 0
        self.stack: list[_Container] = []
        # anchor -> (value, expanded nodes, expanded bytes, collection depth)
        self.anchors: dict[str, tuple[Any, int, int, int]] = {}
        self.open_anchors: list[str | None] = []
        self.locations: dict[JsonPath, Location] = {}
        self.key_locations: dict[JsonPath, Location] = {}
        self.documents = 0
        self.root: Any = None
        self.has_root = False

    def loc(self, mark: Any) -> Location:
        return Location(self.source, mark.line + 1, mark.column + 1)

    def fail(self, mark: Any, message: str, code: str = "yaml") -> SpecError:
        loc = self.loc(mark)
        return _error(self.source, loc.line, loc.col, message, code=code)

    def result(self, text: str = "") -> LoadedDocument:
        if not self.has_root:
            raise _error(
                self.source, 1, 1, "the file is empty: a workflow needs `name` and `steps`"
            )
        return LoadedDocument(self.root, self.source, self.locations, self.key_locations, text)

    # -- events ------------------------------------------------------------------------------
    def feed(self, event: Any) -> None:
        if isinstance(event, yaml.ScalarEvent):
            self.check_tag(event)
            value = self.resolve(event)
            nbytes = len(event.value)
            self.add(value, 1, event, nbytes, 0)
            self.remember(event.anchor, value, 1, nbytes, 0)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            self.check_tag(event)
            if len(self.stack) >= self.max_depth:
                raise self.fail(
                    event.start_mark, f"nesting is deeper than the limit of {self.max_depth} levels"
                )
            is_map = isinstance(event, yaml.MappingStartEvent)
            path = self.child_path(event)
            container = _Container({} if is_map else [], path)
            self.locations[path] = self.loc(event.start_mark)
            self.stack.append(container)
            self.open_anchors.append(event.anchor)
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            container = self.stack.pop()
            anchor = self.open_anchors.pop()
            if isinstance(container.value, dict) and not container.key:
                raise self.fail(event.start_mark, "a mapping key has no value")
            self.attach(container.value, container.size, container.nbytes, container.depth)
            self.remember(
                anchor, container.value, container.size, container.nbytes, container.depth
            )
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:
                raise self.fail(event.start_mark, f"unknown alias *{event.anchor}")
            value, size, nbytes, depth = self.anchors[event.anchor]
            self.alias_used += size
            self.alias_bytes += nbytes
            if self.alias_used > self.alias_budget or self.alias_bytes > self.alias_bytes_budget:
                what = (
                    f"{self.alias_budget:,} nodes"
                    if self.alias_used > self.alias_budget
                    else f"{self.alias_bytes_budget:,} bytes of text"
                )
                raise self.fail(
                    event.start_mark,
                    f"aliases expand to more than {what} (a 'billion laughs' document?)",
                )
            if len(self.stack) + depth > self.max_depth:
                raise self.fail(
                    event.start_mark,
                    f"alias *{event.anchor} makes the nesting deeper than the limit of"
                    f" {self.max_depth} levels",
                )
            self.add(value, size, event, nbytes, depth)
        elif isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise self.fail(
                    event.start_mark,
                    "the file holds more than one YAML document; a workflow is one document",
                )

    def check_tag(self, event: Any) -> None:
        tag = event.tag
        if tag is None or tag in _ALLOWED_TAGS:
            return
        raise self.fail(
            event.start_mark,
            f"tag {tag.replace(_CORE, '!!')} is not allowed; only plain YAML values are",
            code="yaml-tag",
        )

    def resolve(self, event: Any) -> Any:
        text: str = event.value
        tag = event.tag
        if tag in (None, "!") and not event.implicit[0]:
            return text  # quoted: always a string
        if tag == f"{_CORE}str":
            return text
        value = _resolve_plain(text)
        if tag is None or tag == "!":
            return value
        expected = {
            f"{_CORE}int": int,
            f"{_CORE}float": float,
            f"{_CORE}bool": bool,
            f"{_CORE}null": type(None),
        }.get(tag)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if expected is None or type(value) is not expected:
            raise self.fail(event.start_mark, f"{text!r} is not a valid {tag.replace(_CORE, '!!')}")
        return value

    # -- placing nodes -----------------------------------------------------------------------
    def child_path(self, event: Any) -> JsonPath:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.value, list):
            return (*top.path, len(top.value))
        if top.key:
            raise self.fail(
                event.start_mark, "a mapping key must be a plain value, not a collection"
            )
        assert top.pending_key is not None
        return (*top.path, top.pending_key)

    def add(self, value: Any, size: int, event: Any, nbytes: int, depth: int) -> None:
        """A complete node (scalar or alias) arrived."""
        if self.stack and self.stack[-1].key:
            self.stack[-1].nbytes += nbytes
            self.set_key(value, event)
            return
        path = self.child_path(event)
        self.locations[path] = self.loc(event.start_mark)
        self.attach(value, size, nbytes, depth)

    def set_key(self, value: Any, event: Any) -> None:
        top = self.stack[-1]
        assert isinstance(top.value, dict)
        if isinstance(value, dict | list):
            raise self.fail(
                event.start_mark, "a mapping key must be a plain value, not a collection"
            )
        key = value if isinstance(value, str) else _key_text(value)
        if key in top.explicit:
            raise self.fail(
                event.start_mark, f"duplicate key {key!r} in this mapping", code="duplicate-key"
            )
        if key != "<<":
            top.explicit.add(key)
        top.pending_key = key
        top.pending_key_loc = self.loc(event.start_mark)
        top.key = False

    def attach(self, value: Any, size: int, nbytes: int, depth: int) -> None:
        if not self.stack:
            if self.has_root:
                return
            self.root, self.has_root = value, True
            return
        top = self.stack[-1]
        top.size += size
        top.nbytes += nbytes
        top.depth = max(top.depth, depth + 1)
        if isinstance(top.value, list):
            top.value.append(value)
            return
        key = top.pending_key
        assert key is not None
        if key == "<<" and isinstance(value, dict | list):
            self.merge(top, value)
        else:
            top.value[key] = value
            assert top.pending_key_loc is not None
            self.key_locations[(*top.path, key)] = top.pending_key_loc
        top.pending_key = None
        top.key = True

    def merge(self, top: _Container, value: dict[str, Any] | list[Any]) -> None:
        """YAML merge keys (`<<: *defaults`): keys already present win."""
        assert isinstance(top.value, dict)
        sources = value if isinstance(value, list) else [value]
        for source in sources:
            if not isinstance(source, dict):
                loc = top.pending_key_loc or Location(self.source, 1, 1)
                raise _error(self.source, loc.line, loc.col, "`<<` merges only mappings")
            for k, v in source.items():
                top.value.setdefault(k, v)

    def remember(self, anchor: str | None, value: Any, size: int, nbytes: int, depth: int) -> None:
        if anchor is not None:
            self.anchors[anchor] = (value, size, nbytes, depth)


def _key_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _resolve_plain(text: str) -> Any:
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.match(text):
        return int(text)
    if _HEX.match(text):
        return int(text[2:], 16)
    if _OCT.match(text):
        return int(text[2:], 8)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.match(text):
        return math.nan
    return text
