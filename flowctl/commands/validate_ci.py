"""`validate --format github|sarif`: problems as GitHub annotations or a SARIF 2.1.0 log."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from flowctl.errors import Problem, Severity

if TYPE_CHECKING:
    from flowctl.commands.validate import FileVerdict

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/flowctl/flowctl"


def github_annotations(verdicts: Sequence[FileVerdict]) -> str:
    """One `::error`/`::warning` workflow command per problem, at its file:line:col."""
    from flowctl.progress.ci_github import annotation

    lines = []
    for verdict in verdicts:
        for problem in verdict.problems:
            level = "warning" if problem.severity is Severity.WARNING else "error"
            if verdict.strict and level == "warning":
                level = "error"  # --strict: the warning fails the check, show it so
            at = f" (at {problem.path})" if problem.path else ""
            message = problem.message + at
            if problem.location is None:
                message = f"{verdict.file}: {message}"
            lines.append(
                annotation(
                    level,
                    message,
                    location=problem.location,
                    title=f"flowctl validate: {problem.code}",
                )
            )
    return "".join(lines)


def sarif_log(verdicts: Sequence[FileVerdict], *, version: str) -> dict[str, Any]:
    """A SARIF 2.1.0 log of every problem: one run, one rule per problem code."""
    codes = sorted({p.code for v in verdicts for p in v.problems})
    rules = [
        {
            "id": code,
            "name": _rule_name(code),
            "shortDescription": {"text": f"flowctl workflow check: {code}"},
            "helpUri": f"{INFORMATION_URI}/blob/main/docs/graph-checks.md",
        }
        for code in codes
    ]
    index = {code: n for n, code in enumerate(codes)}
    results = [
        _result(verdict, problem, index[problem.code])
        for verdict in verdicts
        for problem in verdict.problems
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "flowctl",
                        "version": version,
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {
                    "SRCROOT": {"uri": Path.cwd().resolve().as_uri() + "/"},
                },
                "results": results,
            }
        ],
    }


def sarif_text(verdicts: Sequence[FileVerdict]) -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        version = package_version("flowctl")
    except PackageNotFoundError:
        version = "0+unknown"
    return json.dumps(sarif_log(verdicts, version=version), indent=2, ensure_ascii=False) + "\n"


def _rule_name(code: str) -> str:
    """SARIF rule names are PascalCase by convention: `unknown-key` -> `UnknownKey`."""
    return "".join(part.capitalize() for part in code.replace("_", "-").split("-")) or "Invalid"


def _result(verdict: FileVerdict, problem: Problem, rule_index: int) -> dict[str, Any]:
    level = "warning" if problem.severity is Severity.WARNING else "error"
    if verdict.strict and level == "warning":
        level = "error"
    file = problem.location.file if problem.location else verdict.file
    region: dict[str, int] = {}
    if problem.location is not None:
        region = {"startLine": problem.location.line, "startColumn": problem.location.col}
    physical: dict[str, Any] = {"artifactLocation": _artifact(file)}
    if region:
        physical["region"] = region
    result: dict[str, Any] = {
        "ruleId": problem.code,
        "ruleIndex": rule_index,
        "level": level,
        "message": {"text": problem.message + (f" (at {problem.path})" if problem.path else "")},
        "locations": [{"physicalLocation": physical}],
    }
    return result


def _artifact(file: str) -> dict[str, str]:
    """A URI relative to the current directory (code scanning's checkout) when it is
    inside it, else an absolute file URI."""
    if file.startswith("<"):
        return {"uri": quote(file.strip("<>"), safe="")}
    path = Path(file)
    try:
        relative = path.resolve().relative_to(Path.cwd().resolve())
    except (ValueError, OSError):
        return {"uri": path.resolve().as_uri()}
    # A URI reference, not a path: spaces and non-ASCII letters are percent-encoded (UTF-8),
    # as SARIF requires and code scanning decodes.
    uri = quote(relative.as_posix().replace(os.sep, "/"), safe="/")
    return {"uri": uri, "uriBaseId": "SRCROOT"}
