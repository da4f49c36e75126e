"""A loop's iterations rebuilt from its children's journal events (item 14 of issue 14)."""

from __future__ import annotations

from typing import Any

from flowctl.runner.loop_outputs import event_outputs, journal_marker, rebuild_loop_outputs
from flowctl.state.audit import AuditEvent


def _event(seq: int, step: str, data: dict[str, Any], kind: str = "step_completed") -> AuditEvent:
    return AuditEvent(
        ts="2026-12-03T00:00:00Z", seq=seq, run_id="r", event=kind, step=step, attempt=1, data=data
    )


def _loop(seq: int, step: str, count: int, parent: str | None = None) -> AuditEvent:
    data: dict[str, Any] = {"type": "loop", "outputs": {"count": count}}
    data["iterations_from"] = "children"
    if parent is not None:
        data["parent"] = parent
    return _event(seq, step, data)


def test_only_a_loops_iterations_leave_the_event() -> None:
    outputs = {"iterations": [{"a": {"x": 1}}], "count": 1}
    assert event_outputs("loop", outputs) == {"count": 1}
    assert event_outputs("parallel", outputs) is outputs
    assert journal_marker("loop", {"count": 1})
    assert not journal_marker("loop", outputs)
    assert not journal_marker("loop", {})  # failed before any iteration: nothing left out


def test_nested_loops_skipped_children_and_gaps_are_rebuilt_by_index() -> None:
    events = [
        _event(1, "each[1].a", {"parent": "each", "outputs": {"v": "one"}}),
        _event(2, "each[0].a", {"parent": "each", "outputs": {"v": "zero"}}),
        _event(3, "each[0].b", {"parent": "each", "reason": "x"}, kind="step_skipped"),
        _event(4, "each[1].in[0].c", {"parent": "each[1].in", "outputs": {"v": "c0"}}),
        _loop(5, "each[1].in", 1, parent="each"),
        _event(6, "each[3].a", {"parent": "each", "outputs": {"v": "three"}}),
        _loop(7, "each", 3),
        # Not children of `each`: another step's prefix, a parallel child, a plain step.
        _event(8, "eachx[0].a", {"parent": "eachx", "outputs": {}}),
        _event(9, "each[0].a.z", {"parent": "each", "outputs": {}}),
        _event(10, "old", {"type": "loop", "outputs": {"iterations": [{}], "count": 1}}),
    ]
    rebuilt = rebuild_loop_outputs({e.step: e for e in events if e.step is not None})
    assert rebuilt["each[1].in"] == {"count": 1, "iterations": [{"c": {"v": "c0"}}]}
    assert rebuilt["each"] == {
        "count": 3,
        "iterations": [
            {"a": {"v": "zero"}, "b": {}},
            {"a": {"v": "one"}, "in": {"count": 1, "iterations": [{"c": {"v": "c0"}}]}},
            {"a": {"v": "three"}},
        ],
    }
    assert "old" not in rebuilt  # a journal written before: its iterations are kept as they are


def test_a_loops_labels_leave_its_event_and_come_back_from_its_loop_labels_line() -> None:
    outputs = {"iterations": [{"a": {}}], "count": 1, "labels": ["x"]}
    assert event_outputs("loop", outputs) == {"count": 1}
    events = [_event(1, "each[0].a", {"parent": "each", "outputs": {}}), _loop(2, "each", 1)]
    latest = {e.step: e for e in events if e.step is not None}
    assert rebuild_loop_outputs(latest, {"each": ["x"]})["each"]["labels"] == ["x"]
    assert "labels" not in rebuild_loop_outputs(latest)["each"]  # a while loop has none
