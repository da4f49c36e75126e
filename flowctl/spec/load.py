"""From a file to a checked Workflow: YAML -> JSON Schema -> model -> graph checks."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

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


def _check(doc: LoadedDocument, raw: bytes, *, graph_checks: bool) -> Validation:
    from flowctl.spec.build import build_workflow
    from flowctl.spec.schema import schema_problems

    problems = schema_problems(doc)
    if problems:
        return Validation(doc.source, None, problems)
    try:
        workflow = build_workflow(doc, hashlib.sha256(raw).hexdigest())
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
    path: Path, *, graph_checks: bool = True, max_bytes: int = DEFAULT_MAX_BYTES
) -> Workflow:
    """The checked model of a workflow file; SpecError listing every error otherwise."""
    doc, raw = load_yaml(path, max_bytes=max_bytes)
    return _workflow_of(_check(doc, raw, graph_checks=graph_checks))


def load_workflow_text(
    text: str, source: str = "<string>", *, graph_checks: bool = True
) -> Workflow:
    """Like load_workflow, from text (tests, the Python API)."""
    doc = load_yaml_text(text, source)
    return _workflow_of(_check(doc, text.encode(), graph_checks=graph_checks))
