"""--force-run: the named steps, what depends on them, their containers' dependents."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowctl.errors import UsageError
from flowctl.runner.filesteps import forced_steps
from flowctl.spec.load import load_workflow
from tests.runner.sched_kit import write_spec

SPEC = """
name: w
steps:
  - id: a
    run: "true"
  - id: b
    run: "true"
    dependencies: [a]
  - id: group
    type: parallel
    parallel_steps:
      - id: inner
        run: "true"
      - id: inner_after
        run: "true"
        dependencies: [inner]
      - id: inner_other
        run: "true"
  - id: after_group
    run: "true"
    dependencies: [group]
  - id: alone
    run: "true"
"""


def test_forced_steps(tmp_path: Path) -> None:
    wf = load_workflow(write_spec(tmp_path, SPEC))
    assert forced_steps(wf, ["a"]) == {"a", "b"}
    assert forced_steps(wf, ["inner"]) == {"inner", "inner_after", "group", "after_group"}
    assert forced_steps(wf, ["group"]) == {
        "group",
        "inner",
        "inner_after",
        "inner_other",
        "after_group",
    }
    with pytest.raises(UsageError, match="--force-run nope: the workflow has no step 'nope'"):
        forced_steps(wf, ["nope"])
