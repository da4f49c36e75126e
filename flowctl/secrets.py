"""Secret masking: every known form of every secret value becomes "***" (SPEC.md section 5)."""

from __future__ import annotations

import base64
import re
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from flowctl.errors import FlowctlError

MASK = "***"
MIN_SECRET_LENGTH = 4


class SecretTooShortError(FlowctlError):
    """A secret is so short that masking it would mangle ordinary text and hide nothing."""


def _base64_middles(data: bytes) -> list[str]:
    """The base64 characters that depend only on `data`, at each of the 3 byte alignments.

    A secret inside a larger blob is encoded together with its neighbours; only the
    characters whose 6 bits all come from the secret are the same whatever surrounds it.
    """
    middles = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode("ascii")
        start = -(-8 * offset // 6)  # first char that starts at or after the secret's first bit
        end = (8 * offset + 8 * len(data)) // 6  # chars that end at or before its last bit
        middles.append(encoded[start:end])
    return middles


def _utf8(text: str) -> bytes:
    # Environment values that were not valid UTF-8 arrive with surrogate escapes.
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


# Characters no encoder escapes: they stand for themselves in every form.
_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_JSON_SHORT = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",  # PHP's json_encode
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def _any_case(hex_digits: str) -> str:
    return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in hex_digits)


def _char_pattern(ch: str) -> tuple[str, int]:
    """A regex for one character of a secret in any of its textual spellings, and the
    longest text it matches: raw; percent-encoded by any encoder (Python, httpx,
    encodeURIComponent: each escapes a different set), with `+` or `%20` for a space, in
    either hex case; JSON-escaped (`\\/` as PHP writes it, `\\u0026` as Go does)."""
    if ch in _PLAIN:
        return ch, 1  # no encoder escapes a letter or digit; a literal keeps masking fast
    spellings = {re.escape(ch)}
    data = _utf8(ch)
    spellings.add("".join(f"%{_any_case(f'{b:02X}')}" for b in data))
    if ch == " ":
        spellings.add(r"\+")
    if ch in _JSON_SHORT:
        spellings.add(re.escape(_JSON_SHORT[ch]))
    units = ch.encode("utf-16-be", "surrogatepass")
    spellings.add(
        "".join(
            "\\\\u" + _any_case(f"{units[k]:02X}{units[k + 1]:02X}")
            for k in range(0, len(units), 2)
        )
    )
    longest = max(len(ch), 3 * len(data), 6 * (len(units) // 2), 2)
    return "(?:" + "|".join(sorted(spellings, key=lambda s: (-len(s), s))) + ")", longest


def _text_pattern(unit: str) -> tuple[str, int]:
    parts = [_char_pattern(ch) for ch in unit]
    return "".join(p for p, _ in parts), sum(n for _, n in parts)


def _wrapped(encoded: str) -> tuple[str, int]:
    """A base64 string as `base64` prints it: a line break may stand between any two
    characters (76 columns by default, any width with -w)."""
    return r"(?:\r?\n)?".join(re.escape(c) for c in encoded), 3 * len(encoded)


def secret_patterns(value: str) -> list[tuple[str, int]]:
    """Regexes that match every form of `value` (and of each of its lines): raw, URL- and
    JSON-escaped in any style, base64 and base64url at every alignment, wrapped at any
    width. Each comes with the longest text it can match."""
    units = {value}
    for line in value.splitlines():
        for candidate in (line, line.strip()):
            if len(candidate) >= MIN_SECRET_LENGTH:
                units.add(candidate)
    patterns: dict[str, int] = {}
    for unit in units:
        pattern, longest = _text_pattern(unit)
        patterns[pattern] = longest
        data = _utf8(unit)
        for encoded in (base64.b64encode(data).decode("ascii"), *_base64_middles(data)):
            for form in (encoded, encoded.translate(str.maketrans("+/", "-_"))):
                if len(form.rstrip("=")) >= MIN_SECRET_LENGTH:
                    # Padding is optional: base64url usually drops it.
                    pattern, longest = _wrapped(form.rstrip("="))
                    pad = len(form) - len(form.rstrip("="))
                    patterns[pattern + (f"(?:={{{pad}}})?" if pad else "")] = longest + pad
    return sorted(patterns.items(), key=lambda item: (-item[1], item[0]))


# Every live masker: `clip` masks with all of them before it cuts, so code that shortens a
# message for display cannot leave half a secret (which no masker recognises any more).
_LIVE: weakref.WeakSet[SecretMasker] = weakref.WeakSet()


def mask_known(text: str) -> str:
    """`text` with the secrets of every masker of this process masked."""
    for masker in list(_LIVE):
        text = masker.mask(text)
    return text


def clip(text: str, limit: int, *, keep_end: bool = False, marker: str = "...") -> str:
    """Mask, then shorten `text` to at most `limit` characters (its start, or with
    `keep_end` its end). Masking first matters: a cut secret is no longer a secret's form,
    so masking after cutting shows its first (or last) characters."""
    text = mask_known(text)
    if len(text) <= limit:
        return text
    keep = max(0, limit - len(marker))
    return marker + text[len(text) - keep :] if keep_end else text[:keep] + marker


class SecretMasker:
    """Replaces every registered secret, in every form SPEC.md names, with "***"."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        _LIVE.add(self)
        self._values: set[str] = set()
        self._patterns: dict[str, int] = {}
        self._pattern: re.Pattern[str] | None = None
        self._longest = 0
        for value in secrets:
            self.add(value)

    def add(self, value: str, *, name: str | None = None) -> None:
        """Register a secret value; `name` (an env var name) only improves the error message."""
        if len(value.strip()) < MIN_SECRET_LENGTH:
            what = f"secret {name}" if name else "a secret value"
            raise SecretTooShortError(
                f"{what} is shorter than {MIN_SECRET_LENGTH} characters; it cannot be masked "
                "without mangling ordinary output, so it is refused"
            )
        if value in self._values:
            return
        self._values.add(value)
        for pattern, longest in secret_patterns(value):
            self._patterns.setdefault(pattern, longest)
        # Longest first: at any position the regex must prefer the whole encoding over a
        # shorter form that is its prefix, or the tail of the longer form would leak.
        ordered = sorted(self._patterns.items(), key=lambda item: (-item[1], item[0]))
        self._pattern = re.compile("|".join(p for p, _ in ordered))
        self._longest = ordered[0][1]

    def __bool__(self) -> bool:
        return self._pattern is not None

    @property
    def longest_form(self) -> int:
        """Length of the longest masked form: a stream must hold back one less than this."""
        return self._longest

    def mask(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)

    def mask_json(self, value: Any) -> Any:
        """A deep copy of a JSON-like value with every string, keys included, masked.

        Lists and tuples become lists, mappings dicts. A number whose text contains a
        secret becomes the masked text; a value that is not JSON becomes its masked str(),
        which is what a JSON writer with `default=str` would print.
        """
        if isinstance(value, str):
            return self.mask(value)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            if self._pattern is not None and self._pattern.search(repr(value)):
                return self.mask(repr(value))
            return value
        if isinstance(value, Mapping):
            return {self._mask_key(k): self.mask_json(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_json(v) for v in value]
        return self.mask(str(value))

    def _mask_key(self, key: Any) -> Any:
        if isinstance(key, str):
            return self.mask(key)
        if key is None or isinstance(key, bool | int | float):
            return self.mask_json(key)
        return self.mask(str(key))

    def stream(self) -> StreamMasker:
        """A masker for one stream read in chunks; it sees secrets added later too."""
        return StreamMasker(self)


class StreamMasker:
    """Masks a stream chunk by chunk, holding back a tail that may start a secret."""

    def __init__(self, masker: SecretMasker) -> None:
        self._masker = masker
        self._held = ""

    def feed(self, chunk: str) -> str:
        """Return the part of the stream so far that is safe to emit, masked."""
        buffer = self._held + chunk
        pattern = self._masker._pattern
        if pattern is None:
            self._held = ""
            return buffer
        # Any occurrence not yet complete is shorter than the longest form and reaches the
        # end of the buffer, so it starts within the last (longest - 1) characters; every
        # occurrence starting before that point is whole and can be masked now.
        hold_from = max(0, len(buffer) - (self._masker.longest_form - 1))
        out: list[str] = []
        pos = 0
        for match in pattern.finditer(buffer):
            if match.start() >= hold_from:
                break
            out.append(buffer[pos : match.start()])
            out.append(MASK)
            pos = match.end()
        if pos < hold_from:
            out.append(buffer[pos:hold_from])
            pos = hold_from
        self._held = buffer[pos:]
        return "".join(out)

    def flush(self) -> str:
        """The held-back tail, masked; call once when the stream ends."""
        tail, self._held = self._held, ""
        return self._masker.mask(tail)
