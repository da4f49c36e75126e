"""`check_workflow`: every graph error and warning of SPEC.md section 8, in one list."""

from __future__ import annotations

from flowctl.errors import Problem, Severity
from flowctl.graph.agents import check_agents
from flowctl.graph.dataflow import check_dataflow
from flowctl.graph.flow import check_flow
from flowctl.graph.index import StepIndex
from flowctl.graph.labelcheck import check_loop_labels
from flowctl.graph.nestedshell import check_nested_shells
from flowctl.graph.refcheck import check_ids, check_refs
from flowctl.graph.templatecheck import check_templates
from flowctl.spec.model import Workflow
from flowctl.spec.yamlload import LoadedDocument


def check_workflow(wf: Workflow, doc: LoadedDocument | None = None) -> list[Problem]:
    """Errors first, then warnings; each group in file order (line, column), stable.

    With the document the workflow was built from, problems inside expressions and
    templates point at the offending token; without it, at the key that holds the text.
    """
    index = StepIndex(wf)
    problems = [*check_ids(index), *check_refs(index), *check_flow(index), *check_dataflow(index)]
    problems.extend(check_agents(wf))
    problems.extend(check_templates(wf, index, doc))
    problems.extend(check_nested_shells(index))
    problems.extend(check_loop_labels(index, doc))
    return sorted(problems, key=_sort_key)


def _sort_key(problem: Problem) -> tuple[int, int, int]:
    rank = 0 if problem.severity is Severity.ERROR else 1
    loc = problem.location
    return (rank, loc.line, loc.col) if loc is not None else (rank, 0, 0)
