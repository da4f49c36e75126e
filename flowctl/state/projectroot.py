"""Paths a run records (its spec, its working directory) relative to the project root.

The project root is the directory that holds the state directory (`.flowctl/..`). A
journal is data that may have been edited, so resume resolves the recorded paths against
the root and refuses any that leave it (SECURITY.md): an edited `run_started` cannot make
resume run another spec somewhere else. Relative paths also let a checkout moved as a whole
(a later CI job, another runner path) resume where it now is.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from flowctl.errors import StateError


def project_root(state_dir: Path) -> Path:
    return Path(state_dir).resolve().parent


def recorded_path(path: Path, root: Path) -> str:
    """`path` as the journal stores it: relative to `root` (POSIX separators) when it is
    inside, else absolute."""
    resolved = Path(path).resolve()
    try:
        relative = resolved.relative_to(root)
    except ValueError:
        return str(resolved)
    return PurePosixPath(*relative.parts).as_posix() if relative.parts else "."


def _inside(path: Path, base: Path) -> bool:
    return path == base or base in path.parents


def trusted_path(recorded: str, root: Path, what: str, run_id: str) -> Path:
    """A path read from a journal, resolved against `root`; StateError when it leaves both
    the root and the directory resume is run from (the one place the journal did not pick:
    runs made through the Python API often keep their state elsewhere).
    """
    resolved = (root / recorded).resolve()  # an absolute `recorded` replaces root
    if _inside(resolved, root) or _inside(resolved, Path.cwd().resolve()):
        return resolved
    raise StateError(
        f"run {run_id} records its {what} as {recorded!r}, outside the project root"
        f" {str(root)!r} (the directory that holds the state directory) and outside the"
        " current directory; a journal cannot point resume elsewhere"
    )
