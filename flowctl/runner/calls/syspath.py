"""The workflow file's directory on `sys.path`, so its `python:` references can name the
modules next to it (kept apart from pycall: every run from a file does this, few call Python)."""

from __future__ import annotations

import sys
from pathlib import Path


def ensure_on_sys_path(directory: Path) -> None:
    """Make the modules in `directory` importable (the workflow file's directory)."""
    entry = str(directory.resolve())
    if entry not in sys.path:
        # Appended, not prepended: a `json.py` next to a workflow must not replace the
        # standard library for flowctl itself.
        sys.path.append(entry)
