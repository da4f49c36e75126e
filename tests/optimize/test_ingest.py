"""The fast record check accepts exactly what RunRecord.from_json accepts, with equal values."""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowctl.optimize.ingest import STEP_FIELDS, normalize_record
from flowctl.state.records import RecordError, RunRecord
from tests.optimize.kit import run, step

BASE = run(
    1,
    [
        step("a", 1.5, inputs="x", outputs="y", timeout=30.0, max_attempts=2),
        step("b", 0.0, status="skipped"),
        step("c", 2.0, status="failed", error="boom", error_kind="exit_code:1", attempts=2),
    ],
    edges=[("a", "b")],
    sla_targets={"max_execution_time": 10.0},
    inputs_sha256="f" * 64,
).to_json()

RUN_KEYS = sorted(BASE)
STEP_KEYS = sorted(BASE["steps"][0])
odd_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.just(10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.lists(st.text(max_size=2), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


def project(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """What the aggregate makes of a step's values (nulls read as their defaults)."""
    v = dict(zip(STEP_FIELDS, values, strict=True))
    return (
        v["id"],
        v["type"] or "action",
        v["status"],
        float(v["duration"] or 0.0),
        float(v["queued"] or 0.0),
        v["attempts"] or 0,
        bool(v["cached"]),
        v["error_kind"],
        None if v["timeout"] is None else float(v["timeout"]),
        v["max_attempts"] or 1,
        v["parent"],
        v["inputs_sha256"],
        v["outputs_sha256"],
    )


def reference(data: Any) -> list[tuple[Any, ...]] | None:
    """The step values via from_json, or None when it rejects the line."""
    try:
        record = RunRecord.from_json(data)
    except (RecordError, OverflowError):
        return None
    steps = []
    for s in record.steps:
        for number in (s.duration, s.queued, s.timeout, s.retry_wait, s.requeued):
            if number is not None and not 0 <= number <= sys.float_info.max:
                return None  # the optimizer is stricter here, on purpose
    for s in record.to_json()["steps"]:
        steps.append(project(tuple(s[k] for k in STEP_FIELDS)))
    if not 0 <= record.duration <= sys.float_info.max:
        return None
    return steps


@settings(max_examples=300, deadline=None)
@given(
    where=st.sampled_from(["run", "step"]),
    key=st.sampled_from(sorted(set(RUN_KEYS) | set(STEP_KEYS))),
    value=odd_values,
    delete=st.booleans(),
    index=st.integers(0, 2),
)
@pytest.mark.slow
def test_fast_path_and_from_json_agree(
    where: str, key: str, value: Any, delete: bool, index: int
) -> None:
    data = copy.deepcopy(BASE)
    target = data if where == "run" else data["steps"][index]
    if delete:
        target.pop(key, None)
    else:
        target[key] = value
    expected = reference(data)
    if expected is None:
        with pytest.raises(RecordError):
            normalize_record(data)
        return
    got = normalize_record(data)
    assert [project(v) for v in got.steps] == expected
    assert got.run["run_id"] == data["run_id"]


def test_a_valid_current_line_is_used_as_it_is() -> None:
    data = json.loads(json.dumps(BASE))
    assert normalize_record(data).run is data


def test_messages_name_the_bad_field() -> None:
    data = copy.deepcopy(BASE)
    data["steps"][1]["duration"] = -1
    with pytest.raises(RecordError, match=r"^field 'steps\[1\]\.duration' must be a finite"):
        normalize_record(data)
    data = copy.deepcopy(BASE)
    data["duration"] = 10**400
    with pytest.raises(RecordError, match="field 'duration' is out of range"):
        normalize_record(data)
    data = copy.deepcopy(BASE)
    data["steps"][0]["timeout"] = 10**400
    with pytest.raises(RecordError, match=r"^field 'steps\[0\]\.timeout' must be a finite"):
        normalize_record(data)
    with pytest.raises(RecordError, match="missing field 'status'"):
        normalize_record({**BASE, "steps": [{"id": "a"}]})


def test_a_line_written_before_the_later_fields_takes_the_fast_path() -> None:
    data = json.loads(json.dumps(BASE))
    for entry in data["steps"]:
        for key in ("up_to_date", "retry_wait", "requeued"):
            del entry[key]
    got = normalize_record(data)
    assert got.run is data  # the fast path keeps the decoded line
    assert [project(v) for v in got.steps] == reference(copy.deepcopy(BASE))
    # An older field left out is still refused by the fast path (and judged exactly).
    del data["steps"][0]["queued"]
    assert normalize_record(data).run is not data
