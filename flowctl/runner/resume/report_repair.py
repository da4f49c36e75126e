"""Rebuild report.json of a completed run lost to a late kill, from the run's journal.

A run writes run_finished to its journal, then its history line, then report.json. A kill
-9 after run_finished leaves a complete run without report.json, and `resume` of a
complete run has nothing to run, so nothing wrote it again. The journal holds what the
report says of each step (status, timings, attempts, errors) and the workflow data its
output_mapping writes made; the end-of-run optimization is not redone (its note says so).
"""

from __future__ import annotations

from flowctl.errors import InputError
from flowctl.runner.record.report import build_report, write_json
from flowctl.runner.resume.run import ResumePlan, unchanged_result
from flowctl.secrets import SecretMasker

REBUILT_NOTE = (
    "report.json was rebuilt from the journal by `flowctl resume` (the run was killed "
    "before writing it); the optimization analysis was not redone"
)


def repair_report(plan: ResumePlan) -> bool:
    """Write the missing report.json of a complete run; True when one was written."""
    report = plan.paths.report
    if not plan.complete or report.exists() or report.is_symlink():
        return False
    write_json(
        report,
        build_report(
            plan.workflow,
            unchanged_result(plan),
            masker=_masker(plan),
            optimization=None,
            optimization_note=REBUILT_NOTE,
        ),
    )
    return True


def _masker(plan: ResumePlan) -> SecretMasker:
    """The run's secrets when they are set (the journal's text is masked already)."""
    from flowctl.runner.prepare import secrets_masker

    try:
        return secrets_masker(plan.workflow)
    except InputError:
        return SecretMasker()
