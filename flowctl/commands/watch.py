"""`flowctl run SPEC --watch`: run, then run again whenever a source file changes.

As `task --watch` does: each run is a whole run, in which steps whose files did not change
are up to date and do not run, so only the affected part of the DAG runs again. Changes
are debounced (a burst of saves is one run). Ctrl-C stops watching: exit code 130.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from flowctl.errors import ExitCode, FlowctlError

DEBOUNCE_MS = 300
TICK_MS = 500


def watch_runs(
    spec: Path,
    run_once: Callable[[bool], int],
    *,
    state_dir: Path,
    root: Path | None = None,
) -> int:
    """Call `run_once(first)` now and after each relevant change, until interrupted.

    A spec that no longer loads is reported and waited on; the watch goes on.
    """
    import logging

    import watchfiles

    # It logs "KeyboardInterrupt caught, stopping watch" on Ctrl-C; we say it ourselves.
    logging.getLogger("watchfiles").setLevel(logging.ERROR)

    from flowctl.files.watching import SourceFilter, describe
    from flowctl.runner.signals import signals_taken
    from flowctl.spec.load import load_workflow

    where = (root or Path.cwd()).resolve()
    taken = signals_taken()
    try:
        if run_once(True) == ExitCode.INTERRUPTED or signals_taken() != taken:
            return int(ExitCode.INTERRUPTED)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    wf = load_workflow(spec)
    interested = SourceFilter(wf, where, state_dir, spec)
    changes = watchfiles.watch(
        where,
        watch_filter=lambda _change, path: interested(path),
        debounce=DEBOUNCE_MS,
        raise_interrupt=False,
        # An empty batch every half second: the first says the watcher is in place, so
        # "watching" is printed only when a change can no longer be missed.
        yield_on_timeout=True,
        rust_timeout=TICK_MS,
    )
    ready = False
    for batch in changes:
        if not batch:
            if not ready:
                ready = True
                _say(
                    f"watching {len(interested.sources)} source patterns under {where} "
                    "(Ctrl-C to stop)"
                )
            continue
        _say(f"changed: {describe({path for _, path in batch}, where)}; running again")
        try:
            wf = load_workflow(spec)
            interested = SourceFilter(wf, where, state_dir, spec)
            taken = signals_taken()
            code = run_once(False)
        except FlowctlError as err:
            _say(f"not run: {err}")
            continue
        except KeyboardInterrupt:
            break
        if code == ExitCode.INTERRUPTED or signals_taken() != taken:
            break
    _say("stopped watching")
    return int(ExitCode.INTERRUPTED)


def _say(text: str) -> None:
    sys.stderr.write(f"[watch] {text}\n")
    sys.stderr.flush()
