"""The run's scratch directory: where steps write $FLOWCTL_OUTPUT, $FLOWCTL_METRICS and the like.

It lives in the run's own directory (`runs/<id>/scratch`, mode 0700), not in /tmp: what a
step writes there may hold a secret, and a `kill -9` of flowctl leaves it behind. The next
session of the run (`resume`) removes whatever an earlier one left before it starts.
"""

from __future__ import annotations

from pathlib import Path

from flowctl.errors import StateError
from flowctl.state.paths import RunPaths

SCRATCH_DIR = "scratch"


def fresh_scratch(paths: RunPaths) -> Path:
    """An empty, private scratch directory for this session of the run."""
    path = paths.run_dir / SCRATCH_DIR
    clear_scratch(paths)
    try:
        path.mkdir(mode=0o700)
        path.chmod(0o700)  # whatever the umask
    except OSError as exc:
        raise StateError(f"cannot create scratch directory {path}: {exc}") from exc
    return path


def clear_scratch(paths: RunPaths) -> None:
    """Remove the run's scratch directory and what is in it (a planted symlink is unlinked,
    never followed)."""
    path = paths.run_dir / SCRATCH_DIR
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    else:
        try:
            path.rmdir()  # most runs leave it empty: no shutil (its import loads bz2 and lzma)
        except FileNotFoundError:
            pass
        except OSError:
            import shutil

            shutil.rmtree(path, ignore_errors=True)
