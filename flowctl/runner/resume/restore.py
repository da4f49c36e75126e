"""A run's audit journal folded, in one pass, into what a resumed session starts from.

The latest event of each step decides its state: finished steps (completed, a handled
failure, skipped by its own condition) are restored with their outputs; everything else
(failed, cancelled, in flight at a crash, waiting, rolled back) runs again. A `step_reset`
event (written by `resume --from`) forgets a step's earlier state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from msgspec import Struct

from flowctl.runner.agents.learning import JournalSample
from flowctl.runner.approval.decisions import (
    DECIDED,
    REQUESTED,
    ApprovalDecision,
    decision_from_event,
)
from flowctl.runner.engine.rundata import write_path
from flowctl.runner.loop_outputs import rebuild_loop_outputs
from flowctl.runner.looplabels import JOURNAL_EVENT as LOOP_LABELS
from flowctl.runner.results import StepResult
from flowctl.runner.steps.base import StepFailure, parse_failure_tag
from flowctl.runner.stored_outputs import kept
from flowctl.spec.model import Step, StepType
from flowctl.state.audit import AuditEvent, parse_ts
from flowctl.status import StepStatus

RESET = "step_reset"  # resume --from: the step's earlier state no longer counts
STEP_EVENTS = frozenset(
    {
        "step_started",
        "step_retrying",
        "step_completed",
        "step_failed",
        "step_skipped",
        "step_cancelled",
        "step_waiting",
        "step_rolled_back",
    }
)
_FINAL_STATUS = {
    "step_completed": StepStatus.COMPLETED,
    "step_failed": StepStatus.FAILED,
    "step_skipped": StepStatus.SKIPPED,
    "step_cancelled": StepStatus.CANCELLED,
    "step_rolled_back": StepStatus.ROLLED_BACK,
    "step_waiting": StepStatus.WAITING,
}


# Events that end an attempt on an agent (a cancelled or skipped one teaches nothing).
_ATTEMPT_ENDS = frozenset({"step_retrying", "agent_failover", "step_failed", "step_completed"})


def local_id(qid: str) -> str:
    """The step id in a qualified id: "loop[2].child" -> "child" (ids contain no dot)."""
    return qid.rsplit(".", 1)[-1]


def step_state(event: AuditEvent | None) -> StepStatus:
    """A step's state from its latest event: running while started, pending if none."""
    if event is None:
        return StepStatus.PENDING
    return _FINAL_STATUS.get(event.event, StepStatus.RUNNING)


def restorable(event: AuditEvent) -> bool:
    """Whether a step whose latest event is this one is done and must not run again."""
    data = event.data
    if event.event == "step_completed":
        return True
    if event.event == "step_failed":
        return data.get("handled") is True
    if event.event == "step_skipped":
        return data.get("by_condition") is True
    return False


class Restored(Struct, frozen=True):
    """A step finished in an earlier session, as its journal event recorded it."""

    qid: str
    event: AuditEvent
    order: int  # position among restored steps, in completion order
    rebuilt: Mapping[str, Any] | None = None  # a loop's outputs, iterations from its children

    @property
    def status(self) -> StepStatus:
        return _FINAL_STATUS[self.event.event]

    @property
    def outputs(self) -> Mapping[str, Any]:
        if self.rebuilt is not None:
            return dict(self.rebuilt)
        outputs = self.event.data.get("outputs")
        return kept(outputs) if isinstance(outputs, Mapping) else {}  # big: a reference

    @property
    def params(self) -> dict[str, Any]:
        params = self.event.data.get("params")
        return dict(params) if isinstance(params, Mapping) else {}

    @property
    def variables(self) -> dict[str, Any]:
        """The loop variables (item, index) the step saw, when the journal kept them."""
        variables = self.event.data.get("vars")
        return dict(variables) if isinstance(variables, Mapping) else {}

    def writes(self) -> list[tuple[list[str], Any]] | None:
        """The workflow data its output_mapping wrote, when the journal kept it."""
        raw = self.event.data.get("writes")
        if not isinstance(raw, list):
            return None
        out = []
        for item in raw:
            if (
                isinstance(item, list)
                and len(item) == 2
                and isinstance(item[0], list)
                and item[0]
                and all(isinstance(p, str) for p in item[0])
            ):
                out.append((list(item[0]), item[1]))
        return out

    def result(self, step_type: StepType, parent: str | None) -> StepResult:
        data = self.event.data
        finished = parse_ts(self.event.ts)
        duration = _number(data.get("duration"))
        attempts = data.get("attempts")
        error = data.get("error")
        kind = parse_failure_tag(data.get("error_kind"))
        reason = data.get("reason")
        return StepResult(
            id=self.qid,
            step_type=step_type,
            status=self.status,
            outputs=self.outputs,
            error=error if isinstance(error, str) else None,
            error_kind=kind[0] if kind is not None else None,
            error_exit_code=kind[1] if kind is not None else None,
            reason=reason if isinstance(reason, str) else None,
            attempts=attempts if isinstance(attempts, int) and attempts >= 0 else 0,
            duration=duration,
            started_at=finished - duration if finished is not None else None,
            finished_at=finished,
            parent=parent,
            cached=data.get("cached") is True,
            up_to_date=data.get("up_to_date") is True,
            handled=data.get("handled") is True,
            by_condition=data.get("by_condition") is True,
            restored=True,
            agent=_text(data.get("agent")),
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# Durations from a journal are data that may be crafted: NaN or -1e308 reached datetime
# arithmetic. Anything outside 0 .. 100 years counts as 0.
_MAX_SECONDS = 100 * 365 * 24 * 3600.0


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number) and 0.0 <= number <= _MAX_SECONDS:
            return number
    return 0.0


class Replay:
    """The journal of one run, folded event by event (`apply`), for resume and its checks."""

    def __init__(self) -> None:
        self.first_started: AuditEvent | None = None
        self.last_started: AuditEvent | None = None
        self.last_finished: AuditEvent | None = None  # run_finished after last_started
        self.latest: dict[str, AuditEvent] = {}  # qid -> its latest step event
        self.labels: dict[str, list[str]] = {}  # for_each loop qid -> its latest labels
        self.decisions: dict[str, ApprovalDecision] = {}
        self.requested: dict[str, float] = {}  # qid -> when its pending request was made
        self.next_seq = 1
        # Attempts on agents (resume rebuilds circuits and adaptive routing from them).
        self.agent_samples: list[JournalSample] = []
        self._on_agent: dict[str, tuple[str, str, float]] = {}  # qid -> agent, capability, ts

    @classmethod
    def of(cls, events: Iterable[AuditEvent]) -> Replay:
        replay = cls()
        for event in events:
            replay.apply(event)
        return replay

    def apply(self, event: AuditEvent) -> None:
        self.next_seq = max(self.next_seq, event.seq + 1)
        kind, qid = event.event, event.step
        if kind == "run_started":
            self.first_started = self.first_started or event
            self.last_started = event
            self.last_finished = None
        elif kind == "run_finished":
            self.last_finished = event
        elif qid is None:
            return
        elif kind in STEP_EVENTS or kind == "agent_failover":
            self._agent_event(event)
            if kind == "agent_failover":
                return
            self.latest.pop(qid, None)  # re-inserted last: dict order = order of last change
            self.latest[qid] = event
        elif kind == LOOP_LABELS:
            names = event.data.get("labels")
            if isinstance(names, list) and all(isinstance(n, str) for n in names):
                self.labels[qid] = list(names)
        elif kind == RESET:
            self.latest.pop(qid, None)
            self.decisions.pop(qid, None)
            self.requested.pop(qid, None)
        elif kind == REQUESTED:
            self.decisions.pop(qid, None)
            moment = parse_ts(event.ts)
            if moment is not None:
                self.requested[qid] = moment
        elif kind == DECIDED:
            decision = decision_from_event(event)
            if decision is not None:
                self.decisions[qid] = decision

    def _agent_event(self, event: AuditEvent) -> None:
        """Pair each step_started on an agent with the event that ended its attempt."""
        qid, data, moment = event.step, event.data, parse_ts(event.ts)
        if qid is None or moment is None:
            return
        if event.event == "step_started":
            agent, capability = data.get("agent"), data.get("capability")
            if isinstance(agent, str) and isinstance(capability, str):
                self._on_agent[qid] = (agent, capability, moment)
            return
        started = self._on_agent.pop(qid, None)
        if started is None or event.event not in _ATTEMPT_ENDS:
            return
        agent, capability, began = started
        ok = event.event == "step_completed"
        self.agent_samples.append(JournalSample(capability, agent, ok, max(0.0, moment - began)))

    @property
    def complete(self) -> bool:
        """The last session finished with status completed."""
        return (
            self.last_finished is not None
            and self.last_finished.data.get("status") == StepStatus.COMPLETED.value
        )

    def state(self, qid: str) -> StepStatus:
        return step_state(self.latest.get(qid))

    def restored(self) -> dict[str, Restored]:
        """Every step that must not run again, by qid, in the order they finished."""
        finished = sorted(
            (event for event in self.latest.values() if restorable(event)),
            key=lambda event: event.seq,
        )
        loops = rebuild_loop_outputs(self.latest, self.labels)
        return {
            event.step: Restored(event.step, event, order, loops.get(event.step))
            for order, event in enumerate(finished)
            if event.step is not None
        }


class Restore:
    """What the scheduler of a resumed session asks: is this step done already?"""

    def __init__(self, restored: Mapping[str, Restored]) -> None:
        self._restored = dict(restored)
        self._children: dict[str, list[str]] = {}
        for qid, done in self._restored.items():
            parent = done.event.data.get("parent")
            if isinstance(parent, str):
                self._children.setdefault(parent, []).append(qid)

    def children_of(self, qid: str) -> list[str]:
        """Restored steps that ran inside the container `qid`, in completion order."""
        return self._children.get(qid, [])

    def __len__(self) -> int:
        return len(self._restored)

    def get(self, qid: str) -> Restored | None:
        return self._restored.get(qid)

    def rebuild(
        self,
        workflow: dict[str, Any],
        steps_by_id: Mapping[str, Step],
        names: Mapping[str, Any],
    ) -> list[str]:
        """Write the restored steps' output_mapping results into `workflow`, in their
        completion order; returns warnings for mappings that could not be re-applied."""
        from flowctl.runner.engine.rundata import apply_output_mapping

        warnings = []
        for restored in self._restored.values():
            if restored.status is not StepStatus.COMPLETED:
                continue
            writes = restored.writes()
            try:
                if writes is not None:
                    for path, value in writes:
                        write_path(workflow, path, value)
                    continue
                step = steps_by_id.get(local_id(restored.qid))
                if step is not None and step.output_mapping:
                    apply_output_mapping(step, restored.outputs, names, workflow)
            except StepFailure as failure:
                warnings.append(f"step '{restored.qid}': {failure.message}")
        return warnings


def known_qids(replay: Replay, extra: Sequence[str] = ()) -> list[str]:
    """Every qualified id the journal names, then `extra`, without repeats."""
    return list(dict.fromkeys([*replay.latest, *extra]))
