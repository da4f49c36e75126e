"""flowctl's public Python API: run a workflow from code and inspect what happened.

from flowctl.api import run_workflow
result = run_workflow("pipeline.yaml", inputs={"pages": 3}, max_parallel=4)
assert result.ok, result.error
result.step("extract").outputs

from flowctl.api import resume_workflow
result = resume_workflow(result.run_id)   # continue a failed, interrupted or paused run
"""

from __future__ import annotations

from flowctl.runner.events import RunObserver
from flowctl.runner.executors.api import ExecutorChoice, ExecutorKind
from flowctl.runner.results import RunResult, StepResult
from flowctl.runner.resume.run import aresume, plan_resume, resume_workflow
from flowctl.runner.session import arun_workflow, run_workflow
from flowctl.status import RunStatus, StepStatus

__all__ = [
    "ExecutorChoice",
    "ExecutorKind",
    "RunObserver",
    "RunResult",
    "RunStatus",
    "StepResult",
    "StepStatus",
    "aresume",
    "arun_workflow",
    "plan_resume",
    "resume_workflow",
    "run_workflow",
]
