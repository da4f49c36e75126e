"""`flowctl approve RUN_ID STEP`: record an approval decision for a paused run."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from flowctl.errors import ExitCode, UsageError
from flowctl.runner.approval.decisions import (
    MAX_ANSWER,
    ApprovalDecision,
    DecisionSource,
    decider,
    record_decision,
)
from flowctl.runner.approval.identity import who_is_here
from flowctl.state.audit import utc_timestamp
from flowctl.state.paths import DEFAULT_STATE_DIR, RunPaths


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def run_approve(
    state_dir: Path,
    run_id: str,
    step: str,
    *,
    reject: bool,
    by: str | None,
    comment: str | None,
) -> int:
    """Approve (or reject) STEP of RUN_ID (a full id or a unique prefix); exit code 0.

    The decision is recorded as made by the identity this process can vouch for (the CI
    actor, else the OS user; identity.py), which is what `approvers` is checked against;
    `by` is kept beside it as a claimed name, and counts only when there is no such identity.
    Prints what was recorded and how to continue.
    """
    from flowctl.state.runs import resolve_run_dir

    claimed = None if by is None else by.strip()
    if claimed is not None and not claimed:
        raise UsageError("--by must name someone")
    identity = who_is_here()
    who, claimed_by = decider(identity, claimed)
    if comment is not None and len(comment) > MAX_ANSWER:
        raise UsageError(f"--comment is longer than {MAX_ANSWER} characters")
    run_dir = resolve_run_dir(state_dir, run_id)
    paths = RunPaths(state_dir, run_dir.name)
    decision = ApprovalDecision(
        step=step,
        approved=not reject,
        by=who,
        comment=comment or None,
        ts=utc_timestamp(),
        source=DecisionSource.CLI,
        identity=identity,
        claimed_by=claimed_by,
    )
    record_decision(paths, decision)
    resume = f"flowctl resume {paths.run_id}"
    if state_dir != DEFAULT_STATE_DIR:
        resume += f" --state-dir {shlex.quote(str(state_dir))}"
    sys.stdout.write(
        f"step {step!r} of run {paths.run_id} {_printable(decision.describe())}\n"
        f"next: {_printable(resume)}\n"
    )
    return ExitCode.OK
