"""One step's bookkeeping in one scope, and the questions the scheduler asks of the waits."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from flowctl.runner.results import StepResult
from flowctl.spec.model import Step


class Node:
    """Bookkeeping of one step in one scope."""

    __slots__ = (
        "armed",
        "dependents",
        "deps",
        "deselected",
        "handlers",
        "handling",
        "launched",
        "missing",
        "open_handlers",
        "parked",
        "pending_triggers",
        "qid",
        "result",
        "step",
        "triggers",
        "waiting",
        "watchers",
    )

    def __init__(self, step: Step, qid: str) -> None:
        self.step = step
        self.qid = qid
        self.deps: list[Node] = []
        self.dependents: list[Node] = []
        self.missing: list[str] = []  # dependencies that are not steps of this scope
        self.waiting = 0
        self.result: StepResult | None = None
        self.deselected: str | None = None  # why a condition routed away from this step
        self.launched = False
        self.parked = False  # waiting for an approval
        # Error handling: the handlers of this step, the steps this one handles, whether a
        # failure triggered it, how many of its triggers are unfinished, and while this
        # step's failure waits for its handlers: that failure and how many are still open.
        self.handlers: list[Node] = []
        self.triggers: list[Node] = []
        self.watchers: list[Node] = []  # failed steps waiting for this handler
        self.armed = False
        self.pending_triggers = 0
        self.handling: StepResult | None = None
        self.open_handlers = 0

    @property
    def startable(self) -> bool:
        """Dependencies done and, for an error handler, triggered or no longer triggerable."""
        if self.waiting:
            return False
        return not self.triggers or self.armed or self.pending_triggers == 0


def wait_cycle(failed: Node) -> list[Node]:
    """The steps of a wait cycle through a failed step and its handlers, if there is one.

    A handler that waits, through its dependencies, for the very failure it should handle
    can never start.
    """
    path: dict[Node, Node | None] = {failed: None}
    stack = [failed]
    while stack:
        node = stack.pop()
        nexts = [h for h in node.handlers if h.result is None] if node.handling else []
        nexts += [d for d in node.deps if d.result is None]
        for nxt in nexts:
            if nxt is failed:
                cycle = [node]
                back = path[node]
                while back is not None:
                    cycle.append(back)
                    back = path[back]
                return list(reversed(cycle))
            if nxt not in path:
                path[nxt] = node
                stack.append(nxt)
    return []


def behind(parked: Iterable[Node]) -> set[Node]:
    """Parked steps and every step that waits on one of them, directly or not."""
    seen: set[Node] = set()
    stack = list(parked)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(node.dependents)
        stack.extend(node.watchers)  # failed steps waiting for this handler
        stack.extend(h for h in node.handlers if not h.armed)  # handlers it may trigger
    return seen


def _quoted(nodes: Iterable[Node], shown: Callable[[str], str] = str) -> str:
    return ", ".join(f"'{shown(n.qid)}'" for n in nodes)


def deadlock_message(stuck: Sequence[Node], shown: Callable[[str], str] = str) -> str:
    """Which steps can never start, and what each one waits on (`shown` names a step as
    messages do: loop iterations by label)."""
    parts = []
    for node in stuck:
        waits = []
        deps = [d for d in node.deps if d.result is None]
        if deps:
            waits.append(_quoted(deps, shown))
        if node.missing:
            waits.append(", ".join(f"'{m}' (not a step of this scope)" for m in node.missing))
        if node.handling is not None:
            waits.append(
                f"its error handlers "
                f"{_quoted((h for h in node.handlers if h.result is None), shown)}"
            )
        elif node.triggers and not node.armed and node.pending_triggers:
            pending = [t for t in node.triggers if t.result is None]
            waits.append(f"the steps it handles {_quoted(pending, shown)}")
        parts.append(f"'{shown(node.qid)}' waits on {'; '.join(waits) or 'nothing it can get'}")
    return "runtime deadlock: these steps can never start: " + "; ".join(parts)
