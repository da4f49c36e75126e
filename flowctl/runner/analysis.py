"""The optimizer's analysis at the end of a run, kept within a budget of the run's time.

`flowctl optimize` reads a whole history. At the end of every run the same analysis must
cost little next to the run: at most BUDGET_SHARE of the run's duration or BUDGET_FLOOR,
whichever is larger, however long the history has grown. Its cost is predicted from the
workflow's size and the bytes of history read (a model measured on the project's machine,
below); the history is read from its end, as many of the latest runs as the budget allows.
When not even the latest run fits, the analysis is skipped with a note saying how to get it.
"""

from __future__ import annotations

import asyncio
import importlib
import shlex
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from msgspec import Struct

from flowctl.errors import FlowctlError, HistoryError
from flowctl.runner.results import StepResult
from flowctl.spec.model import StepType, Workflow
from flowctl.status import StepStatus

_CONTAINERS = frozenset({StepType.PARALLEL, StepType.LOOP})

BUDGET_SHARE = 0.05
BUDGET_FLOOR = 0.050  # seconds

# The cost model, in CPU seconds, measured with benchmarks/peers.py's W1 and W5 histories
# on the project's 2-core machine and rounded up: importing the optimizer (once per
# process), its work per step of the workflow (structure, data flow, critical path, replays
# of the DAG) and per byte of history read (JSON decoding and the per-step aggregates).
# A 1,000-step workflow with one run recorded: about 0.1 s of analysis after the import.
IMPORT_SECONDS = 0.040
STEP_SECONDS = 100e-6
BYTE_SECONDS = 50e-9

_ANALYZE = "flowctl.optimize.analyze"


class Plan(Struct, frozen=True):
    """What the end-of-run analysis may read: the last `tail_bytes` of the history (None:
    all of it), or nothing, and why."""

    budget: float
    tail_bytes: int | None
    skip: str | None = None


def plan_analysis(steps: int, history_bytes: int, run_seconds: float, *, imported: bool) -> Plan:
    """How much history fits in the budget of a run that took `run_seconds`."""
    budget = max(BUDGET_SHARE * run_seconds, BUDGET_FLOOR)
    fixed = (0.0 if imported else IMPORT_SECONDS) + STEP_SECONDS * steps
    room = budget - fixed
    if room <= 0:
        return Plan(
            budget,
            None,
            f"analysing {steps} steps would take about {fixed * 1000:.0f} ms, more than "
            f"the end-of-run budget of {budget * 1000:.0f} ms",
        )
    fits = int(room / BYTE_SECONDS)
    return Plan(budget, None if fits >= history_bytes else fits)


class Preparation:
    """The optimizer's import on a background thread: begun at once, or once the run has
    lasted long enough for the analysis to fit its budget (`stop` at the run's end)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._thread: threading.Thread | None = None
        self._timer: asyncio.TimerHandle | None = None
        if delay <= 0:
            self._start()
        else:
            self._timer = asyncio.get_running_loop().call_later(delay, self._start)

    def _start(self) -> None:
        self._timer = None
        if _ANALYZE in sys.modules:
            return
        thread = threading.Thread(
            target=importlib.import_module, args=(_ANALYZE,), name="flowctl-optimizer-import"
        )
        thread.daemon = True  # an import cannot be stopped; the process must not wait for it
        thread.start()
        self._thread = thread

    def stop(self) -> threading.Thread | None:
        """No import begins from now on; the thread of one begun, if any."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return self._thread


def prepare_analysis(wf: Workflow, history: Path | None) -> Preparation | None:
    """Import the optimizer on a background thread while the run goes on, from the moment
    the end-of-run analysis is sure to fit its budget: at once when the floor alone covers
    it (a small workflow), else once the run has lasted long enough (call in the run's
    event loop).

    The run mostly waits for its steps; the import (40 ms, most of a small workflow's
    analysis) then costs no wall time at the end.
    """
    if _ANALYZE in sys.modules or not wf.optimization_enabled:
        return None
    if history is None or not history.is_file():
        return None
    steps = sum(1 for _ in wf.walk())
    fixed = IMPORT_SECONDS + STEP_SECONDS * steps
    if fixed < BUDGET_FLOOR:
        return Preparation(0.0)
    # A little past the run time whose budget equals the fixed cost, where there is room.
    return Preparation(fixed / BUDGET_SHARE * 1.05)


def nothing_ran(steps: Iterable[StepResult]) -> bool:
    """Every step was up to date (or skipped, or a container of such steps): the run's
    record adds no sample the analysis reads, so its advice would be the last run's."""
    up_to_date = False
    for result in steps:
        if result.up_to_date:
            up_to_date = True
        elif result.status is not StepStatus.SKIPPED and result.step_type not in _CONTAINERS:
            return False
    return up_to_date


def end_of_run_analysis(
    wf: Workflow,
    history: Path | None,
    run_seconds: float,
    *,
    no_op: bool = False,
    prepared: threading.Thread | None = None,
) -> tuple[Mapping[str, object] | None, str | None]:
    """(the optimization report as JSON, or None; a note on what was or was not analysed).

    `no_op`: nothing ran (see nothing_ran): the analysis is skipped, at no cost.
    `prepared` is prepare_analysis's import thread: an import still under way is counted
    in the budget as one not begun.
    """
    if not wf.optimization_enabled:
        return None, "optimization_enabled is false"
    if history is None or not history.is_file():
        return None, "no history recorded for this run"
    if no_op:
        return None, (
            "optimization skipped: every step was up to date, so the history holds nothing "
            f"new to analyse; for it, run {_hint(wf, history)}"
        )
    steps = sum(1 for _ in wf.walk())
    plan = plan_analysis(
        steps,
        history.stat().st_size,
        run_seconds,
        # In sys.modules from the moment an import begins: done only when the thread is.
        imported=_ANALYZE in sys.modules and (prepared is None or not prepared.is_alive()),
    )
    hint = _hint(wf, history)
    if plan.skip is not None:
        return None, f"optimization skipped: {plan.skip} ({_rule()}); for it, run {hint}"
    if prepared is not None:
        prepared.join()
    from flowctl.optimize.analyze import analyze_history

    try:
        report = analyze_history(history, workflow=wf.name, spec=wf, tail_bytes=plan.tail_bytes)
    except FlowctlError as err:
        if isinstance(err, HistoryError) and plan.tail_bytes is not None:
            return None, (
                f"optimization skipped: the latest run's record is more history than "
                f"{plan.budget * 1000:.0f} ms can analyse ({_rule()}); for it, run {hint}"
            )
        return None, f"optimization skipped: {err}"
    if plan.tail_bytes is None:
        return report.to_json(), None
    return report.to_json(), (
        f"analysed the latest {report.summary.runs} runs only (the last "
        f"{plan.tail_bytes // 1024} KiB of the history), to keep within "
        f"{plan.budget * 1000:.0f} ms ({_rule()}); for all of it, run {hint}"
    )


def _rule() -> str:
    return f"{BUDGET_SHARE:.0%} of the run or {BUDGET_FLOOR * 1000:.0f} ms, whichever is larger"


def _hint(wf: Workflow, history: Path) -> str:
    spec = "" if wf.source.startswith("<") else f" --spec {shlex.quote(wf.source)}"
    return f"`flowctl optimize {shlex.quote(str(history))}{spec}`"
