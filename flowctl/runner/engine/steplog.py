"""A step's log file: opened on first write, masked, one per step, never shared."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO

from flowctl.errors import StateError
from flowctl.secrets import SecretMasker


class FileStepLog:
    """logs/<step>.log; most python steps never write, so the file appears only if needed."""

    def __init__(self, path: Path | Callable[[], Path], masker: SecretMasker) -> None:
        # A callable is asked on first use: most steps never need the path, and building
        # a safe file name is a good part of a no-op step's cost.
        self._path = path
        self._masker = masker
        self._file: IO[str] | None = None
        self._opened = False

    @property
    def path(self) -> Path:
        if not isinstance(self._path, Path):
            self._path = self._path()
        return self._path

    @property
    def written(self) -> bool:
        """True once something was written (a retry then marks where its attempt begins)."""
        return self._opened

    def write(self, text: str) -> None:
        if not text:
            return
        if self._file is None:
            try:
                self._file = self.path.open("a", encoding="utf-8", errors="replace")
                self._opened = True
            except OSError as exc:
                raise StateError(f"cannot open step log {self.path}: {exc}") from exc
        self._file.write(self._masker.mask(text))
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
