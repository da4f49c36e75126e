"""Statuses of a run and of its steps (SPEC.md section 4)."""

from __future__ import annotations

import enum

from flowctl.errors import ExitCode


class StepStatus(enum.StrEnum):
    PENDING = "pending"
    WAITING = "waiting"  # waiting for an approval
    RUNNING = "running"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    ROLLED_BACK = "rolled_back"

    @property
    def finished(self) -> bool:
        return self in _FINISHED_STEP


_FINISHED_STEP = frozenset(
    {
        StepStatus.COMPLETED,
        StepStatus.FAILED,
        StepStatus.SKIPPED,
        StepStatus.CANCELLED,
        StepStatus.ROLLED_BACK,
    }
)


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    WAITING_APPROVAL = "waiting_approval"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    ROLLBACK = "rollback"  # compensating; never a final status

    @property
    def exit_code(self) -> ExitCode:
        return _EXIT_CODES.get(self, ExitCode.FAILED)


_EXIT_CODES = {
    RunStatus.COMPLETED: ExitCode.OK,
    RunStatus.FAILED: ExitCode.FAILED,
    RunStatus.TIMEOUT: ExitCode.TIMEOUT,
    RunStatus.WAITING_APPROVAL: ExitCode.WAITING_APPROVAL,
    RunStatus.CANCELLED: ExitCode.INTERRUPTED,
}
