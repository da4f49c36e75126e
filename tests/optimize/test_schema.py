"""The JSON report against schemas/optimize-report.schema.json (and its packaged copy)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from flowctl.spec.load import load_workflow_text
from tests.optimize.kit import analyze, run, step, write
from tests.optimize.test_parallelization import SPEC

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "schemas" / "optimize-report.schema.json"
PACKAGED = ROOT / "flowctl" / "schemas" / "optimize-report.schema.json"


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_packaged_schema_is_the_same_file() -> None:
    assert PACKAGED.read_bytes() == SCHEMA.read_bytes()


def busy_history(tmp_path: Path) -> Path:
    """A history that makes every recommendation type fire at least once."""
    records = []
    for i in range(60):
        slow = i >= 48
        status = "failed" if i in (4, 20) else "completed"
        records.append(
            run(
                i,
                [
                    step("a", 2.0, inputs=f"d{i % 2}", outputs=f"o{i % 2}", timeout=900.0),
                    step("b", 3.0 if slow else 1.0, queued=0.5),
                    step("c", 1.0, status=status, inputs=f"c{i // 2}", error_kind="error"),
                    step(
                        "d",
                        1.0,
                        attempts=2 if i % 4 == 0 else 1,
                        max_attempts=2,
                        status="completed",
                    ),
                    step("g", 1.0, type="parallel"),
                    step("x", 0.5, parent="g"),
                    step("y", 0.5, parent="g"),
                ],
                edges=[("a", "b"), ("b", "g"), ("x", "y")],
                status=status,
                max_parallel_steps=1,
                sla_targets={"max_execution_time": 5.0, "min_success_rate": 0.99},
            )
        )
    records.append(
        run(60, [step("t", 9.0, status="failed", error_kind="timeout", timeout=9.0)], workflow="o")
    )
    with (tmp_path / "h.jsonl").open("w") as f:
        f.write("not json\n")
    return write(tmp_path / "h.jsonl", records)


def test_every_report_validates(tmp_path: Path) -> None:
    path = busy_history(tmp_path)
    spec = load_workflow_text(SPEC, str(tmp_path / "wf.yaml"))
    check = validator()
    seen: set[str] = set()
    for options in ({}, {"spec": spec}, {"top": 0}, {"workflow": "o"}):
        report = analyze(path, **options)
        data = json.loads(json.dumps(report.to_json()))
        errors = sorted(check.iter_errors(data), key=lambda e: list(e.path))
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
        seen.update(r["type"] for r in data["recommendations"])
    assert seen == {
        "parallelization",
        "caching",
        "retry",
        "timeout",
        "concurrency",
        "sla",
        "regression",
        "flaky",
    }


def test_the_schema_rejects_a_drifted_report(tmp_path: Path) -> None:
    data = analyze(busy_history(tmp_path)).to_json()
    data["summary"]["unexpected"] = 1
    with pytest.raises(jsonschema.ValidationError):
        validator().validate(data)
