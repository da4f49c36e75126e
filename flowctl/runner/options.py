"""How one run (or one resumed session of it) runs: the options every layer shares.

The CLI, `run_workflow`/`arun_workflow` and `resume_workflow`/`aresume` each build one
RunOptions from their keyword arguments; the run session reads it. One value instead of
the same keyword list passed down layer after layer, and one declaration of those
keywords (RunArguments, SessionArguments) instead of one per public function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from msgspec import Struct

from flowctl.runner.executors.api import LOCAL, ExecutorChoice
from flowctl.state.paths import DEFAULT_STATE_DIR, HISTORY_FILE

if TYPE_CHECKING:
    from flowctl.runner.events import RunObserver
    from flowctl.runner.steps.registry import Registry


class SessionArguments(TypedDict, total=False):
    """The keyword arguments of every run and resume function (docs/python-api.md); a
    resumed session keeps its run's state directory, working directory and forcing."""

    history: Path | str | None
    max_parallel: int | None
    observers: Sequence[RunObserver]
    record_history: bool
    durable: bool
    handle_signals: bool
    registry: Registry | None
    approve: Sequence[str]
    auto_approve: bool
    interactive: bool
    keep_going: bool


class RunArguments(SessionArguments, total=False):
    """The keyword arguments of `run_workflow`, `arun_workflow` and `RunOptions.of`."""

    state_dir: Path | str
    workdir: Path | str | None
    executor: ExecutorChoice
    force_all: bool
    force_run: Sequence[str]


def _path_or_none(value: Path | str | None) -> Path | None:
    return Path(value) if value is not None else None


# How `of` turns the looser argument types into the fields' (the others pass unchanged).
_CONVERT: dict[str, Callable[[Any], Any]] = {
    "state_dir": Path,
    "history": _path_or_none,
    "workdir": _path_or_none,
    "observers": tuple,
    "approve": tuple,
    "force_run": tuple,
}


class RunOptions(Struct, frozen=True, kw_only=True):
    """Everything about a run except the workflow and its inputs (docs/python-api.md)."""

    state_dir: Path = DEFAULT_STATE_DIR
    history: Path | None = None  # None: <state_dir>/history.jsonl
    max_parallel: int | None = None  # None: the spec's (on resume: the recorded one)
    observers: tuple[RunObserver, ...] = ()
    workdir: Path | None = None  # None: the current directory (on resume: the recorded one)
    record_history: bool = True
    durable: bool = True
    handle_signals: bool = False
    registry: Registry | None = None  # None: the default step types
    approve: tuple[str, ...] = ()  # human_task steps granted up front (`--approve STEP`)
    auto_approve: bool = False  # every human_task granted (`--auto-approve`)
    interactive: bool = False  # the others asked on the terminal
    executor: ExecutorChoice = LOCAL
    force_all: bool = False
    force_run: tuple[str, ...] = ()
    keep_going: bool = False

    @classmethod
    def of(cls, **given: Unpack[RunArguments]) -> RunOptions:
        """RunOptions from the public functions' looser argument types (str paths, lists);
        what is not given keeps the field's default."""
        values = {key: _CONVERT.get(key, _same)(value) for key, value in given.items()}
        return cls(**values)

    @property
    def history_file(self) -> Path | None:
        """Where the history line goes, or None when no line is recorded."""
        if not self.record_history:
            return None
        return self.history if self.history is not None else self.state_dir / HISTORY_FILE


def _same(value: Any) -> Any:
    return value
