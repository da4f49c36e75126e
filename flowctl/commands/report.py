"""`flowctl report RUN_ID --html F`: a run as one self-contained HTML file."""

from __future__ import annotations

import sys
from pathlib import Path

from flowctl.errors import ExitCode


def run_report(state_dir: Path, run_id: str, *, html: Path) -> int:
    """Write the HTML report of RUN_ID (an id or a unique prefix) to `html`."""
    from flowctl.report.html import write_html_report
    from flowctl.state.runs import resolve_run_dir

    run_dir = resolve_run_dir(state_dir, run_id)
    write_html_report(run_dir, html)
    sys.stdout.write(f"wrote {html}\n")
    return int(ExitCode.OK)
