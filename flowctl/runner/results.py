"""Value types of a finished step and of a finished run, as the runner reports them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from msgspec import Struct, field

from flowctl.errors import ExitCode
from flowctl.runner.steps.base import FailureKind, failure_tag
from flowctl.spec.model import StepType
from flowctl.state.paths import RunPaths
from flowctl.state.records import AgentAttempt
from flowctl.status import RunStatus, StepStatus


class StepResult(Struct, frozen=True, kw_only=True):
    """What one step (one loop iteration's child counts as one step) did in a run.

    Times are `time.time()` seconds; `duration` runs from the first attempt's start to the
    end (retries and their backoff included), `queued` is time spent ready but waiting for
    a free slot. `outputs` hold the real values (steps downstream read them); everything
    written to a file or the console is masked on the way out.
    """

    id: str  # qualified: "a", "loop[2].child"
    step_type: StepType
    status: StepStatus
    # Not in the repr (see __repr__).
    outputs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None  # masked
    error_kind: FailureKind | None = None  # written as error_tag
    error_exit_code: int | None = None  # with error_kind exit_code: the process's exit code
    reason: str | None = None  # why skipped or cancelled, in plain words
    attempts: int = 0
    duration: float = 0.0
    queued: float = 0.0
    # Inside `duration`: seconds between attempts (a retry's backoff and its wait for a
    # slot again), and the part of `queued` that was such a wait.
    retry_wait: float = 0.0
    requeued: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    parent: str | None = None  # the container's qualified id
    cached: bool = False
    up_to_date: bool = False  # its files and definition had not changed: it did not run
    metrics: Mapping[str, float] = field(default_factory=dict)
    inputs_sha256: str | None = None
    outputs_sha256: str | None = None
    log_path: Path | None = None
    continue_on_failure: bool = False
    handled: bool = False  # failed, and its error handlers all completed: counts as success
    by_condition: bool = False  # skipped because its own `condition` was false
    restored: bool = False  # finished in an earlier session of a resumed run
    capability: str | None = None  # agent_capability of a step run on an agent
    agent: str | None = None  # the agent of its last attempt
    agent_wait: float = 0.0  # seconds queued for an agent slot
    agent_attempts: tuple[AgentAttempt, ...] = ()

    @property
    def error_tag(self) -> str | None:
        """error_kind as journals, reports and history write it: "exit_code:N", "timeout"."""
        if self.error_kind is None:
            return None
        return failure_tag(self.error_kind, self.error_exit_code)

    @property
    def succeeded(self) -> bool:
        """Completed, or failed with the failure handled: dependents go on either way."""
        return self.status is StepStatus.COMPLETED or (
            self.handled and self.status is StepStatus.FAILED
        )

    @property
    def ok(self) -> bool:
        return self.status is StepStatus.COMPLETED

    def names_entry(self) -> dict[str, Any]:
        """The `steps.<id>` value expressions see."""
        return {
            "status": self.status.value,
            "outputs": self.outputs,
            "attempts": self.attempts,
            "duration": self.duration,
            "error": self.error,
        }

    def __repr__(self) -> str:
        # Without `outputs`: asyncio.run reprs the main task's result (a RunResult) when it
        # puts back the SIGINT handler, outputs hold real secret values in memory, and a
        # resumed run's outputs can be gigabytes.
        shown = (f"{n}={getattr(self, n)!r}" for n in self.__struct_fields__ if n != "outputs")
        return f"StepResult({', '.join(shown)})"


class RunResult(Struct, frozen=True, kw_only=True):
    """The outcome of one run: status, every step's result, the run's data and its files."""

    run_id: str
    workflow: str
    status: RunStatus
    steps: Mapping[str, StepResult]  # qualified id -> result, in the order steps finished
    data: Mapping[str, Any]  # the final `workflow` data (variables, inputs, output_mapping)
    inputs: Mapping[str, Any]
    started_at: float
    finished_at: float
    error: str | None = None  # masked; the root cause first
    root_cause: str | None = None  # qualified id of the step whose failure ended the run
    paths: RunPaths | None = None
    history_path: Path | None = None
    report_path: Path | None = None
    waiting: tuple[str, ...] = ()  # human_task steps waiting for a decision
    resumed: bool = False
    rollback_failed: int = 0  # rollback actions that failed (the audit log says which)
    # Steps whose failure failed the run, each once, where it began (several under
    # --keep-going); the root cause first.
    failures: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        return self.finished_at - self.started_at

    @property
    def exit_code(self) -> ExitCode:
        return self.status.exit_code

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.COMPLETED

    def step(self, qualified_id: str) -> StepResult:
        """The result of one step; KeyError naming the known ids otherwise."""
        try:
            return self.steps[qualified_id]
        except KeyError:
            known = ", ".join(sorted(self.steps)) or "none"
            raise KeyError(f"no step {qualified_id!r} in this run (known: {known})") from None
