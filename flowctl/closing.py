"""A base for objects that hold a resource until `close()`: usable in a `with` block."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closing:
    """`with obj:` closes obj at the end of the block; subclasses define `close()`."""

    __slots__ = ()  # so that a msgspec.Struct can extend it

    def close(self) -> None:
        raise TypeError(f"{type(self).__name__} must define close()")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
