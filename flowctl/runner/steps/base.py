"""The one interface every step type implements, and what an attempt gets to work with."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from msgspec import Struct, field

from flowctl.spec.model import Step

if TYPE_CHECKING:
    import httpx

    from flowctl.runner.approval.decisions import ApprovalDecision
    from flowctl.runner.executors.api import Executor
    from flowctl.secrets import SecretMasker

Outputs = Mapping[str, Any]


class FailureKind(enum.StrEnum):
    ERROR = "error"
    TIMEOUT = "timeout"
    EXIT_CODE = "exit_code"
    EXPRESSION = "expression"  # an expression or template failed: never retried
    VALIDATION = "validation"  # input_validation failed: never retried
    HTTP = "http"
    CIRCUIT_OPEN = "circuit_open"
    CANCELLED = "cancelled"
    UNSUPPORTED = "unsupported"  # a feature this flowctl does not run yet: never retried
    SECURITY = "security"  # a value tried to leave what the author allowed: never retried


def failure_tag(kind: FailureKind, exit_code: int | None = None) -> str:
    """error_kind as journals, reports and history write it: "exit_code:N", "timeout", ..."""
    if kind is FailureKind.EXIT_CODE and exit_code is not None:
        return f"exit_code:{exit_code}"
    return kind.value


def parse_failure_tag(tag: object) -> tuple[FailureKind, int | None] | None:
    """A written failure_tag read back as (kind, exit code); None for a word it is not."""
    if not isinstance(tag, str):
        return None
    word, colon, code = tag.partition(":")
    try:
        kind = FailureKind(word)
    except ValueError:
        return None
    if not colon:
        return kind, None
    if kind is not FailureKind.EXIT_CODE:
        return None
    try:
        return kind, int(code)
    except ValueError:
        return None


def exit_code_of(failure: StepFailure | None) -> int | None:
    """The exit code that error_kind exit_code carries; None for every other failure."""
    if failure is None or failure.kind is not FailureKind.EXIT_CODE:
        return None
    return failure.exit_code


class StepFailure(Exception):
    """An attempt failed. Executors raise this; anything else is wrapped into it."""

    def __init__(
        self,
        message: str,
        *,
        kind: FailureKind = FailureKind.ERROR,
        retryable: bool = True,
        exit_code: int | None = None,
        outputs: Outputs | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.retryable = retryable
        self.exit_code = exit_code
        self.outputs: Outputs = outputs or {}

    @property
    def retry_tag(self) -> str:
        """The `retry_on` word this failure matches: error, timeout or exit_code:N."""
        if self.kind is FailureKind.TIMEOUT:
            return "timeout"
        if self.kind is FailureKind.EXIT_CODE and self.exit_code is not None:
            return f"exit_code:{self.exit_code}"
        return "error"


class ApprovalPending(Exception):
    """Nobody can decide a human_task now: the step waits (this is not a failure).

    Raised by the approval gate; containers pass it on when a child waits. The scheduler
    parks the step, lets everything that does not depend on it finish, and the run ends
    `waiting_approval` (exit 4) until `flowctl approve` and `flowctl resume`.
    """

    def __init__(self, steps: tuple[str, ...]) -> None:
        super().__init__(f"waiting for approval: {', '.join(steps)}")
        self.steps = steps


class Approvals(Protocol):
    """The run's approval policy, as a human_task step sees it."""

    async def decide(self, ctx: StepContext, message: str) -> ApprovalDecision:
        """The standing or newly given decision for this step (audited), or raise
        ApprovalPending when it must wait, or StepFailure when the approval timed out.
        `message` is rendered and masked."""
        ...


class StepLog(Protocol):
    """The step's log file (`logs/<step>.log`); text is masked before it is written."""

    @property
    def path(self) -> Path: ...

    def write(self, text: str) -> None: ...


def _local_executor() -> Executor:
    from flowctl.runner.executors.local import LOCAL_EXECUTOR

    return LOCAL_EXECUTOR


class StepContext(Struct, kw_only=True):
    """Everything one attempt of one step may use. Also the `ctx` given to python steps."""

    step: Step
    qualified_id: str  # "a", or "loop[2].child" inside a loop
    run_id: str
    attempt: int
    params: Mapping[str, Any]  # the resolved input_mapping
    names: Mapping[str, Any]  # expression names: workflow, inputs, params, steps, item, ...
    env: Mapping[str, str]  # additions to a subprocess environment (workflow env, FLOWCTL_*)
    log: StepLog
    masker: SecretMasker
    workdir: Path  # where relative paths resolve (the directory flowctl was started in)
    # A private path for this attempt, unique in the run; not created: make it a directory
    # if you need one (shell steps keep `<scratch>.output` and `<scratch>.metrics` beside it).
    scratch: Path
    timeout: float  # seconds for this attempt; the scheduler enforces it
    idempotency_key: str  # stable across retries and resume
    http_client: Callable[[], Awaitable[httpx.AsyncClient]]  # one shared client per run
    metrics: dict[str, float] = field(default_factory=dict)
    approvals: Approvals | None = None  # set for human_task steps
    executor: Executor = field(default_factory=_local_executor)  # runs action work
    # Told where the attempt ran (a Dask worker's address), for the journal and progress.
    placed: Callable[[str], None] | None = None
    # Told the pid of each local process group an attempt starts, for the journal (resume
    # kills the groups a killed run left behind).
    spawned: Callable[[int], None] | None = None
    agent: str | None = None  # the agent running this attempt (agent_capability steps)

    @property
    def step_id(self) -> str:
        return self.step.id

    def metric(self, name: str, value: float) -> None:
        """Report a custom numeric metric (SPEC.md 5); kept in history and the report."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"metric {name!r} must be a number, got {type(value).__name__}")
        self.metrics[name] = float(value)


class StepExecutor(Protocol):
    """One step type. Return the step's outputs, or raise StepFailure.

    Cancellation (timeout, run cancel) arrives as asyncio.CancelledError: release what the
    attempt holds (kill process groups, close files) and re-raise.
    """

    async def execute(self, ctx: StepContext) -> Outputs: ...
