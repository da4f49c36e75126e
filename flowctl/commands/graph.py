"""`flowctl graph SPEC`: print the workflow's graph as Mermaid or Graphviz dot."""

from __future__ import annotations

import enum
import sys
from pathlib import Path

from flowctl.errors import ExitCode, UsageError


class GraphFormat(enum.StrEnum):
    MERMAID = "mermaid"
    DOT = "dot"


def run_graph(spec: Path, fmt: str) -> int:
    """Load and check `spec`, then write its drawing to stdout."""
    try:
        chosen = GraphFormat(fmt)
    except ValueError:
        formats = ", ".join(f.value for f in GraphFormat)
        raise UsageError(f"unknown graph format {fmt!r}; choose one of: {formats}") from None
    from flowctl.graph import to_dot, to_mermaid
    from flowctl.spec.load import load_workflow

    workflow = load_workflow(spec)
    render = to_mermaid if chosen is GraphFormat.MERMAID else to_dot
    sys.stdout.write(render(workflow))
    return ExitCode.OK
