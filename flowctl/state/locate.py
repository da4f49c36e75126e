"""Which state directory a command uses: --state-dir, $FLOWCTL_STATE_DIR, or the nearest `.flowctl`.

Like git finding `.git`, a command run in a subdirectory finds the `.flowctl` of the
project above it. The walk stops at the enclosing git repository's root or the user's
home, whichever comes first, and never looks above both: a `.flowctl` in a shared
directory such as `/tmp` belongs to somebody else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from msgspec import Struct

STATE_DIR_NAME = ".flowctl"
ENV_VAR = "FLOWCTL_STATE_DIR"


class Search(Struct, frozen=True):
    """The directories a walk looked in, nearest first, and why it stopped where it did."""

    looked_in: tuple[Path, ...]
    stopped_at: str  # "the git repository's root", "your home directory", "..."

    def describe(self) -> str:
        if len(self.looked_in) == 1:
            return f"looked for {STATE_DIR_NAME} in {self.looked_in[0]} only ({self.stopped_at})"
        return (
            f"looked for {STATE_DIR_NAME} in {self.looked_in[0]} and up to "
            f"{self.looked_in[-1]} ({self.stopped_at})"
        )


def search_path(start: Path, *, home: Path | None = None) -> Search:
    """The directories from `start` up to the git root or home, whichever is nearer."""
    start = start.resolve()
    home_dir = (home if home is not None else Path.home()).resolve()
    looked: list[Path] = []
    for directory in (start, *start.parents):
        looked.append(directory)
        if (directory / ".git").exists():
            return Search(tuple(looked), "the git repository's root")
        if directory == home_dir:
            return Search(tuple(looked), "your home directory")
    # Neither a repository nor home above us: only the starting directory is ours.
    return Search((start,), "not inside a git repository or your home directory")


def find_state_dir(
    start: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> Path | None:
    """$FLOWCTL_STATE_DIR, else the nearest existing `.flowctl`, else None."""
    env = os.environ if environ is None else environ
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR])
    for directory in search_path(start or Path.cwd(), home=home).looked_in:
        candidate = directory / STATE_DIR_NAME
        if candidate.is_dir():
            return candidate if directory != Path.cwd().resolve() else Path(STATE_DIR_NAME)
    return None


def resolve_state_dir(explicit: Path | None) -> Path:
    """The state directory of a command: the option, the variable, the nearest `.flowctl`,
    or `./.flowctl` (made by the first run)."""
    if explicit is not None:
        return explicit
    return find_state_dir() or Path(STATE_DIR_NAME)


def where_looked(state_dir: Path) -> str:
    """For a "no runs" message: how `state_dir` was chosen, when it was not given."""
    if state_dir != Path(STATE_DIR_NAME) or os.environ.get(ENV_VAR):
        return ""
    return f"; {search_path(Path.cwd()).describe()}; use --state-dir or {ENV_VAR}"
