"""`flowctl cache clear`: forget every cached step result and stored file of a state dir."""

from __future__ import annotations

import sys
from pathlib import Path

from flowctl.errors import ExitCode
from flowctl.runner.engine.cache_lookup import cache_path
from flowctl.state.cache import StepCache


def run_cache_clear(state_dir: Path) -> int:
    """Remove every entry of `<state_dir>/cache.db`, print how many; exit code 0.

    A state directory without a cache is left as it is (no empty database is created).
    """
    from flowctl.state.filestore import FileStore

    path = cache_path(state_dir)
    removed = 0
    if path.exists():
        with StepCache(path) as cache:
            removed = cache.clear()
    noun = "result" if removed == 1 else "results"
    files = FileStore(state_dir).clear()
    stored = f" and {files} stored set{'s' if files != 1 else ''} of files" if files else ""
    sys.stdout.write(f"removed {removed} cached {noun}{stored}\n")
    return ExitCode.OK
