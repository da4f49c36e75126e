"""From a file to a checked Workflow: YAML -> JSON Schema -> model -> graph checks."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO, Protocol

from msgspec import Struct

from flowctl.errors import FlowctlError, Problem, Severity, SpecError
from flowctl.spec.model import Workflow
from flowctl.spec.yamlload import (
    DEFAULT_MAX_BYTES,
    LoadedDocument,
    load_yaml,
    load_yaml_bytes,
    load_yaml_text,
    read_capped,
)


class CheckedSpecs(Protocol):
    """Digests of spec files whose exact bytes passed every check before (state/checked.py).

    The checks are a function of the file's bytes and of flowctl's code alone, so bytes
    that passed them once pass again: a run skips the schema and graph checks for them
    (7 to 10 ms of a 200-step spec, a twentieth of a no-op run). A file that changed by
    one byte has another digest and is checked in full.
    """

    def passed(self, digest: str) -> bool: ...

    def remember(self, digest: str) -> None: ...


class Validation(Struct, frozen=True):
    """Everything `flowctl validate` found in one file."""

    source: str
    workflow: Workflow | None
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.WARNING]


def _check(
    doc: LoadedDocument, raw: bytes, *, graph_checks: bool, digest: str | None = None
) -> Validation:
    from flowctl.spec.build import build_workflow
    from flowctl.spec.schema import schema_problems

    problems = schema_problems(doc)
    if problems:
        return Validation(doc.source, None, problems)
    try:
        workflow = build_workflow(doc, digest or hashlib.sha256(raw).hexdigest())
    except SpecError as exc:
        return Validation(doc.source, None, exc.problems)
    if graph_checks:
        from flowctl.graph import check_workflow

        problems = check_workflow(workflow, doc)
    ok = not any(p.severity is Severity.ERROR for p in problems)
    return Validation(doc.source, workflow if ok else None, problems)


def validate_path(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Validation:
    """Every problem of one file, errors and warnings; never raises for a bad spec."""
    try:
        doc, raw = load_yaml(path, max_bytes=max_bytes)
    except FlowctlError as exc:
        return Validation(str(path), None, exc.problems)
    return _check(doc, raw, graph_checks=True)


def validate_stream(
    handle: BinaryIO, source: str, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Validation:
    """Like validate_path, for standard input or a pipe: at most max_bytes are read."""
    try:
        raw = read_capped(handle, source, max_bytes)
        doc = load_yaml_bytes(raw, source)
    except FlowctlError as exc:
        return Validation(source, None, exc.problems)
    return _check(doc, raw, graph_checks=True)


def validate_text(text: str, source: str = "<string>") -> Validation:
    try:
        doc = load_yaml_text(text, source)
    except FlowctlError as exc:
        return Validation(source, None, exc.problems)
    return _check(doc, text.encode(), graph_checks=True)


def _workflow_of(validation: Validation) -> Workflow:
    if validation.workflow is None:
        raise SpecError(validation.errors)
    return validation.workflow


def load_workflow(
    path: Path,
    *,
    graph_checks: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
    checked: CheckedSpecs | None = None,
) -> Workflow:
    """The checked model of a workflow file; SpecError listing every error otherwise.

    With `checked`, bytes that passed every check before are only built (warnings are not
    looked for again: `validate` shows them), and bytes that pass now are remembered.
    """
    doc, raw = load_yaml(path, max_bytes=max_bytes)
    if checked is None or not graph_checks:
        return _workflow_of(_check(doc, raw, graph_checks=graph_checks))
    digest = hashlib.sha256(raw).hexdigest()
    if checked.passed(digest):
        from flowctl.spec.build import build_workflow

        return build_workflow(doc, digest)
    workflow = _workflow_of(_check(doc, raw, graph_checks=True, digest=digest))
    checked.remember(digest)
    return workflow


def load_workflow_text(
    text: str, source: str = "<string>", *, graph_checks: bool = True
) -> Workflow:
    """Like load_workflow, from text (tests, the Python API)."""
    doc = load_yaml_text(text, source)
    return _workflow_of(_check(doc, text.encode(), graph_checks=graph_checks))
