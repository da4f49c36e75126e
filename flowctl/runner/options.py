"""How one run (or one resumed session of it) runs: the options every layer shares.

The CLI, `run_workflow`/`arun_workflow` and `resume_workflow`/`aresume` each build one
RunOptions from their keyword arguments; the run session reads it. One value instead of
the same keyword list passed down layer after layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flowctl.runner.executors.api import LOCAL, ExecutorChoice
from flowctl.state.paths import DEFAULT_STATE_DIR, HISTORY_FILE

if TYPE_CHECKING:
    from flowctl.runner.events import RunObserver
    from flowctl.runner.steps.registry import Registry


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
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
    def of(
        cls,
        *,
        state_dir: Path | str = DEFAULT_STATE_DIR,
        history: Path | str | None = None,
        max_parallel: int | None = None,
        observers: Sequence[RunObserver] = (),
        workdir: Path | str | None = None,
        record_history: bool = True,
        durable: bool = True,
        handle_signals: bool = False,
        registry: Registry | None = None,
        approve: Sequence[str] = (),
        auto_approve: bool = False,
        interactive: bool = False,
        executor: ExecutorChoice = LOCAL,
        force_all: bool = False,
        force_run: Sequence[str] = (),
        keep_going: bool = False,
    ) -> RunOptions:
        """RunOptions from the public functions' looser argument types (str paths, lists)."""
        return cls(
            state_dir=Path(state_dir),
            history=Path(history) if history is not None else None,
            max_parallel=max_parallel,
            observers=tuple(observers),
            workdir=Path(workdir) if workdir is not None else None,
            record_history=record_history,
            durable=durable,
            handle_signals=handle_signals,
            registry=registry,
            approve=tuple(approve),
            auto_approve=auto_approve,
            interactive=interactive,
            executor=executor,
            force_all=force_all,
            force_run=tuple(force_run),
            keep_going=keep_going,
        )

    @property
    def history_file(self) -> Path | None:
        """Where the history line goes, or None when no line is recorded."""
        if not self.record_history:
            return None
        return self.history if self.history is not None else self.state_dir / HISTORY_FILE
