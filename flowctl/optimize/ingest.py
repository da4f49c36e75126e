"""Turn a decoded history line into values the aggregate can trust, quickly.

`RunRecord.from_json` is the definition of a valid line, but building two million frozen
dataclasses costs more than the whole analysis may take. Lines in the current format are
therefore checked here, in place, by the same rules; anything this check does not accept
(an older format, a missing optional field, a value it is unsure of) goes through
`RunRecord.from_json`, which either names the bad field or upgrades the record, so both
paths accept exactly the same lines. The optimizer is stricter on one point: durations
must be finite and not negative.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from itertools import chain
from operator import itemgetter
from typing import Any, NamedTuple

from flowctl.state.records import HISTORY_FORMAT, RecordError, RunRecord

# The largest float: an integer above it cannot become one (float() overflows), and the
# chained comparisons below reject NaN, infinities and negatives in the same breath.
_MAX = sys.float_info.max
_NONE: type = type(None)
_STR: frozenset[type] = frozenset({str})
_OPT_STR: frozenset[type] = frozenset({str, _NONE})
_OPT_NUM: frozenset[type] = frozenset({int, float, _NONE})
_OPT_INT: frozenset[type] = frozenset({int, _NONE})

# Field -> the JSON types RunRecord.from_json accepts for it (a bool is never an int here).
_RUN_FIELDS: dict[str, frozenset[type]] = {
    "format": frozenset({int}),
    "run_id": _STR,
    "workflow": _STR,
    "status": _STR,
    "started_at": _STR,
    "finished_at": _STR,
    "duration": frozenset({int, float}),
    "steps": frozenset({list}),
    "edges": frozenset({list, _NONE}),
    "workflow_version": _OPT_STR,
    "spec_sha256": _OPT_STR,
    "max_parallel_steps": _OPT_INT,
    "executor_capacity": _OPT_INT,
    "sla_targets": frozenset({dict, _NONE}),
    "inputs_sha256": _OPT_STR,
}
_RUN_REQUIRED = ("run_id", "workflow", "status", "started_at", "finished_at", "duration", "steps")

# The fields of a step in StepValues order, with the types from_json accepts.
_STEP_FIELDS: dict[str, frozenset[type]] = {
    "id": _STR,
    "type": _OPT_STR,
    "status": _STR,
    "duration": _OPT_NUM,
    "queued": _OPT_NUM,
    "attempts": _OPT_INT,
    "cached": frozenset({bool, _NONE}),
    "error_kind": _OPT_STR,
    "timeout": _OPT_NUM,
    "max_attempts": _OPT_INT,
    "parent": _OPT_STR,
    "inputs_sha256": _OPT_STR,
    "outputs_sha256": _OPT_STR,
    "started_at": _OPT_STR,
    "finished_at": _OPT_STR,
    "error": _OPT_STR,
    "metrics": frozenset({dict, _NONE}),
    "up_to_date": frozenset({bool, _NONE}),
    "retry_wait": _OPT_NUM,
    "requeued": _OPT_NUM,
}
STEP_FIELDS = tuple(_STEP_FIELDS)
# Fields later versions added to the step entry: a line written before them lacks them
# and still takes the fast path, with null (the aggregate reads null as the default).
_LATER_FIELDS = ("up_to_date", "retry_wait", "requeued")
_step_values = itemgetter(*STEP_FIELDS)
_STEP_ALLOWED = tuple(_STEP_FIELDS.values())
_NUMERIC = tuple(
    STEP_FIELDS.index(k) for k in ("duration", "queued", "timeout", "retry_wait", "requeued")
)
_LIST: set[type] = {list}
_TWO = {2}

_UNSEEN = object()
_MAX_PLANS = 4096
_PLANS: dict[tuple[type, ...], Any] = {}


class Normalized(NamedTuple):
    """A valid record: its run-level fields as a dict, and each step's values in order.

    Each tuple in `steps` holds the step's fields in STEP_FIELDS order, null where the
    record has null.
    """

    run: dict[str, Any]
    steps: list[tuple[Any, ...]]


def normalize_record(data: Any) -> Normalized:
    """The record of a decoded line, or RecordError naming what is wrong with it."""
    steps = _fast_steps(data)
    if steps is not None:
        return Normalized(data, steps)
    upgraded = RunRecord.from_json(data).to_json()
    _check_numbers(upgraded)
    return Normalized(upgraded, [_step_values(step) for step in upgraded["steps"]])


def _fast_steps(data: Any) -> list[tuple[Any, ...]] | None:
    """The step values of a current-format line that from_json accepts, else None."""
    if type(data) is not dict or data.get("format", 1) != HISTORY_FORMAT:
        return None
    for key in _RUN_REQUIRED:
        if key not in data:
            return None
    fields = _RUN_FIELDS
    for key, value in data.items():
        allowed = fields.get(key)
        if allowed is not None and type(value) not in allowed:
            return None
    if not 0 <= data["duration"] <= _MAX:
        return None
    edges = data.get("edges")
    if edges and not _valid_edges(edges):
        return None
    return _fast_step_values(data["steps"])


_last_edges: list[Any] = []


def _valid_edges(edges: list[Any]) -> bool:
    """Every edge is a [str, str] pair. Runs of one workflow repeat the same edges, so a
    list equal to the last one found valid is valid (one C-level comparison)."""
    global _last_edges
    if edges == _last_edges:
        return True
    if (
        set(map(type, edges)) != _LIST
        or set(map(len, edges)) != _TWO
        or set(map(type, chain.from_iterable(edges))) != _STR
    ):
        return False
    _last_edges = edges
    return True


def _fast_step_values(steps: list[Any]) -> list[tuple[Any, ...]] | None:
    """Each step's values, or None unless every step passes the check.

    The types of all values of a record form one signature; the verdict on a signature, and
    where its numbers sit, is worked out once and remembered: the files of one workflow
    repeat a handful of signatures, so most records cost a few C-level passes.
    """
    rows: list[tuple[Any, ...]] | None
    try:
        rows = list(map(_step_values, steps))
    except KeyError:
        rows = _with_later_fields(steps)
        if rows is None:
            return None
    except TypeError:
        return None  # a step that is not an object
    flat = tuple(chain.from_iterable(rows))
    signature = tuple(map(type, flat))
    plan = _PLANS.get(signature, _UNSEEN)
    if plan is _UNSEEN:
        plan = _plan(signature)
        if len(_PLANS) < _MAX_PLANS:
            _PLANS[signature] = plan
    if plan is None:
        return None
    numbers = plan(flat)
    # All at least 0 and a finite sum: so each one is finite (NaN poisons the sum). A sum
    # that overflows only sends the record down the exact path.
    try:
        if numbers and (min(numbers) < 0 or not sum(numbers) <= _MAX):
            return None
    except OverflowError:
        return None
    return rows


def _with_later_fields(steps: list[Any]) -> list[tuple[Any, ...]] | None:
    """Each step's values, the fields added since it was written read as null; None when
    a step is not an object or leaves out an older field."""
    for entry in steps:
        if type(entry) is not dict:
            return None
        for key in _LATER_FIELDS:
            if key not in entry:
                entry[key] = None
    try:
        return list(map(_step_values, steps))
    except KeyError:
        return None


def _plan(signature: tuple[type, ...]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]] | None:
    """None if a value has a type from_json refuses; else a getter of the durations."""
    width = len(_STEP_ALLOWED)
    positions = []
    for start in range(0, len(signature), width):
        types = signature[start : start + width]
        if not all(t in allowed for t, allowed in zip(types, _STEP_ALLOWED, strict=True)):
            return None
        positions += [start + i for i in _NUMERIC if types[i] is not _NONE]
    if not positions:
        return lambda flat: ()
    if len(positions) == 1:
        (only,) = positions
        return lambda flat: (flat[only],)
    getter: Callable[[tuple[Any, ...]], tuple[Any, ...]] = itemgetter(*positions)
    return getter


def _check_numbers(record: dict[str, Any]) -> None:
    if not 0 <= record["duration"] <= _MAX:
        raise RecordError("field 'duration' must be a finite number of seconds, not negative")
    for index, step in enumerate(record["steps"]):
        for key in ("duration", "queued", "timeout", "retry_wait", "requeued"):
            value = step.get(key)
            if value is not None and not 0 <= value <= _MAX:
                raise RecordError(
                    f"field 'steps[{index}].{key}' must be a finite number of seconds, not negative"
                )
