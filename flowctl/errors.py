"""The one error policy: flowctl's exception tree, problem values and exit codes."""

from __future__ import annotations

import enum

from msgspec import Struct


class ExitCode(enum.IntEnum):
    """Process exit codes of every command (SPEC.md section 7)."""

    OK = 0
    FAILED = 1
    USAGE = 2  # invalid spec, input, history or command line
    TIMEOUT = 3
    WAITING_APPROVAL = 4
    INTERRUPTED = 130


class Location(Struct, frozen=True):
    """A place in a file; line and col are 1-based, as editors show them."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Problem(Struct, frozen=True):
    """One finding of validation: where, what, and how bad."""

    message: str
    location: Location | None = None
    path: str | None = None  # JSON path such as "steps[2].retry_policy", or a step id
    severity: Severity = Severity.ERROR
    code: str = "invalid"  # short machine-readable kind, e.g. "schema", "cycle", "yaml"

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        at = f" (at {self.path})" if self.path else ""
        return f"{where}{prefix}{self.message}{at}"

    def to_json(self) -> dict[str, object]:
        return {
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "file": self.location.file if self.location else None,
            "line": self.location.line if self.location else None,
            "col": self.location.col if self.location else None,
            "path": self.path,
        }


class FlowctlError(Exception):
    """Base of every error flowctl reports to a user; never shown as a traceback."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message

    @property
    def problems(self) -> list[Problem]:
        return [Problem(self.message, self.location)]


class SpecError(FlowctlError):
    """The workflow file is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("SpecError needs at least one problem")
        first = problems[0]
        super().__init__(first.message, location=first.location)
        self._problems = problems

    @property
    def problems(self) -> list[Problem]:
        return list(self._problems)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self._problems)

    @classmethod
    def single(
        cls, message: str, location: Location | None = None, *, code: str = "invalid"
    ) -> SpecError:
        return cls([Problem(message, location, code=code)])


class InputError(FlowctlError):
    """A workflow input (--input, --inputs-file) is missing or of the wrong type."""


class UsageError(FlowctlError):
    """The command line asks for something that cannot be done."""


class HistoryError(FlowctlError):
    """A history file cannot be used (missing, or nothing usable in it)."""


class StateError(FlowctlError):
    """A run's state directory is missing, unreadable or inconsistent."""


class ExpressionError(FlowctlError):
    """An expression or template failed: unknown name, type error, sandbox refusal, bomb.

    At run time this fails the step without retry; at validate time it is a spec problem.
    """

    def __init__(self, expression: str, reason: str, *, location: Location | None = None) -> None:
        super().__init__(f"expression {expression!r} failed: {reason}", location=location)
        self.expression = expression
        self.reason = reason


class SecurityError(ExpressionError):
    """The sandbox refused an operation (escape attempt or resource bomb)."""
