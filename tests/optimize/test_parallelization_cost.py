"""The parallelization advice costs time linear in the workflow: YAML only for what is
reported, and one edit of a join's `dependencies`, not one per dependency (issue 8)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from flowctl.optimize.report import ChangeAction, RecommendationType
from flowctl.optimize.rules import base
from flowctl.spec.load import load_workflow
from tests.optimize.kit import analyze, of_type, run, step, write

N = 1000
# The package re-exports the rule function under the module's name.
RULE_MODULE = importlib.import_module("flowctl.optimize.rules.parallelization")
STEP_YAML = base.step_yaml


class YamlCalls:
    """Counts step_yaml calls (by every rule) and the list items they render."""

    def __init__(self) -> None:
        self.calls = 0
        self.items = 0

    def __call__(self, step_id: str, values: Mapping[str, Any]) -> str:
        self.calls += 1
        self.items += sum(len(v) for v in values.values() if isinstance(v, list))
        return STEP_YAML(step_id, values)


@pytest.fixture
def yaml_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[YamlCalls]:
    counter = YamlCalls()
    monkeypatch.setattr(RULE_MODULE, "step_yaml", counter)
    monkeypatch.setattr(base, "step_yaml", counter)
    yield counter


def _spec(tmp_path: Path, steps: list[tuple[str, list[str]]]) -> Path:
    lines = ["name: wf", "steps:"]
    for sid, deps in steps:
        lines += [f"  - id: {sid}", "    run: echo hi"]
        if deps:
            lines.append(f"    dependencies: [{', '.join(deps)}]")
    path = tmp_path / "wf.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_join_of_1000_loose_dependencies_renders_one_edit(
    tmp_path: Path, yaml_calls: YamlCalls
) -> None:
    leaves = [f"s{i}" for i in range(N)]
    # The join comes first in the file, so a replay without its dependencies starts it
    # first. 1,000 one-second leaves at 10 at a time, then a 50 s join: 150 s. Without its
    # dependencies the join holds one slot for 50 s beside them: 105 s, 30% less.
    spec = _spec(tmp_path, [("join", leaves), *((s, []) for s in leaves)])
    records = [
        run(
            i,
            [*(step(s, 1.0) for s in leaves), step("join", 50.0)],
            edges=[(s, "join") for s in leaves],
        )
        for i in range(3)
    ]
    report = analyze(write(tmp_path / "h.jsonl", records), spec=load_workflow(spec), top=5)
    (rec,) = of_type(report, RecommendationType.PARALLELIZATION)
    assert rec.id == "parallelization:join"
    assert rec.expected_improvement == pytest.approx(30.0)
    (change,) = rec.specific_changes
    assert (change.action, change.step, change.key, change.value) == (
        ChangeAction.SET,
        "join",
        "dependencies",
        [],
    )
    assert change.current == leaves
    assert change.yaml == "- id: join\n  dependencies: []"
    # One call, of an empty list: before, 1,000 calls of 999 items each.
    assert (yaml_calls.calls, yaml_calls.items) == (1, 0)


def test_yaml_is_rendered_only_for_the_reported_recommendations(
    tmp_path: Path, yaml_calls: YamlCalls
) -> None:
    # A chain of 201 steps that pass no data: 200 loose dependencies, each a candidate.
    ids = [f"s{i}" for i in range(201)]
    spec = _spec(tmp_path, [(s, [ids[i - 1]] if i else []) for i, s in enumerate(ids)])
    records = [
        run(
            i,
            [step(s, 1.0) for s in ids],
            edges=[(ids[k - 1], ids[k]) for k in range(1, len(ids))],
        )
        for i in range(3)
    ]
    report = analyze(write(tmp_path / "h.jsonl", records), spec=load_workflow(spec), top=3)
    assert report.recommendations_total > 3
    found = of_type(report, RecommendationType.PARALLELIZATION)
    assert found
    reported = [c for r in found for c in r.specific_changes]
    assert all(c.yaml is not None and c.render is None for c in reported)
    assert yaml_calls.calls == len(reported) <= 3
