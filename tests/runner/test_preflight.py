"""A registry without some step type refuses, before anything runs, the steps it cannot run."""

from __future__ import annotations

import pytest

from flowctl.errors import SpecError
from flowctl.runner.preflight import check_supported
from flowctl.runner.steps.registry import default_registry
from flowctl.spec.load import load_workflow_text
from flowctl.spec.model import StepType


def test_a_step_type_the_registry_lacks_is_refused_with_its_location() -> None:
    wf = load_workflow_text(
        "name: w\nsteps:\n  - id: pause\n    type: wait\n    duration: 1s\n", "wf.yaml"
    )
    check_supported(wf, default_registry())  # the built-in registry runs every type
    partial = {t: e for t, e in default_registry().items() if t is not StepType.WAIT}
    with pytest.raises(SpecError) as info:
        check_supported(wf, partial)
    assert str(info.value) == (
        "wf.yaml:4:5: step 'pause' has type wait, which the step registry of this run has "
        "no executor for (at pause)"
    )
