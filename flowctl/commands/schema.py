"""`flowctl schema`: print the JSON Schema of the workflow format."""

from __future__ import annotations

import sys

from flowctl.errors import ExitCode


def run_schema() -> int:
    """Write the schema exactly as shipped, so `flowctl schema > f.json` gives the same file."""
    from flowctl.spec.schema import schema_text

    sys.stdout.write(schema_text())
    return ExitCode.OK
