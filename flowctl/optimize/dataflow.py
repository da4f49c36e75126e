"""Which dependencies carry data: the evidence behind parallelization advice (needs --spec).

Step B depends on A by data when anything B (or a step inside B) evaluates reads
`steps.A...` (or a step inside A), or reads workflow data that A's output_mapping writes.
An edge is also kept when dropping it would race: A reads what B writes, or both write the
same workflow path. Control edges are never advice material: condition routing, approvals,
wait steps, and `trigger_rule: all_done` (cleanup that must come last).
"""

from __future__ import annotations

from collections.abc import Iterator

from flowctl.graph.dataflow import NamePath, read_paths, related, step_sources, subtree, target_path
from flowctl.spec.model import ConditionStep, Step, StepType, TriggerRule, Workflow

# What an expression that does not parse might read: everything.
_ANYTHING: frozenset[NamePath] = frozenset({("steps",), ("workflow",)})


class DataFlow:
    """Reads and writes of every step of a workflow (containers include their children)."""

    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow
        self._steps: dict[str, Step] = {s.id: s for s, _ in workflow.walk()}
        self._handlers = workflow.error_handler_ids()
        self._subtree: dict[str, frozenset[str]] = {}
        self._reads: dict[str, frozenset[NamePath]] = {}
        self._writes: dict[str, frozenset[NamePath]] = {}
        from flowctl.files.effects import FileEffects

        self.files = FileEffects(workflow)  # data that flows through files
        for step in self._steps.values():
            inside = list(subtree(step))
            self._subtree[step.id] = frozenset(s.id for s in inside)
            self._reads[step.id] = frozenset(p for s in inside for p in _step_reads(s))
            self._writes[step.id] = frozenset(
                _target(target) for s in inside for target in s.output_mapping.values()
            )

    def reads(self, step_id: str) -> frozenset[NamePath]:
        """Every name path the step and its children read."""
        return self._reads.get(step_id, _ANYTHING)

    def needed(self, upstream: str, downstream: str) -> str | None:
        """Why `downstream` must wait for `upstream` (a short reason), or None if it need not."""
        up = self._steps.get(upstream)
        down = self._steps.get(downstream)
        if up is None or down is None:
            return "unknown step"
        if isinstance(up, ConditionStep) and downstream in up.targets():
            return f"routed by condition '{upstream}'"
        if up.type is StepType.HUMAN_TASK:
            return f"waits for the approval in '{upstream}'"
        if up.type is StepType.WAIT:
            return f"'{upstream}' is a wait step"
        if down.trigger_rule is TriggerRule.ALL_DONE:
            return "trigger_rule all_done: it runs after its dependencies whatever happened"
        if downstream in self._handlers:
            return "an error handler"
        inside_up = self._subtree[upstream]
        up_writes = self._writes[upstream]
        down_writes = self._writes[downstream]
        for path in sorted(self._reads[downstream]):
            if path[0] == "steps" and (len(path) == 1 or path[1] in inside_up):
                return f"reads {_show(path)}"
            if path[0] == "workflow":
                for written in up_writes:
                    if related(path, written):
                        return f"reads {_show(path)}, written by '{upstream}'"
        for path in sorted(self._reads[upstream]):
            if path[0] == "workflow":
                for written in sorted(down_writes):
                    if related(path, written):
                        return f"writes {_show(written)}, which '{upstream}' reads"
        for written in sorted(up_writes):
            for other in down_writes:
                if related(written, other):
                    return f"both write {_show(written)}"
        return self.files.needed(upstream, downstream)


def _step_reads(step: Step) -> Iterator[NamePath]:
    for text, template in step_sources(step):
        found = read_paths(text, template=template)
        yield from _ANYTHING if found is None else found


def _target(target: str) -> NamePath:
    """Where an output_mapping target writes; one that cannot be parsed may write anywhere."""
    path = target_path(target)
    return ("workflow",) if path is None else path


def _show(path: NamePath) -> str:
    return ".".join(path)
