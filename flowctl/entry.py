"""The `flowctl` command's entry point: what needs no command-line framework is answered here.

Importing typer (with its bundled click) and building the command tree costs 40 to 60 ms of
CPU before any work starts, more than go-task needs for a whole `--help`. Two command lines
are common enough to skip that:

- `flowctl [COMMAND...] --help`, printed from `flowctl.helptext`, which holds the text typer
  renders (a test compares the two, so they cannot drift apart);
- `flowctl run SPEC [OPTIONS]`, parsed by `flowctl.runargs` when every word of it is one
  that parser knows exactly (a test checks it against typer's declaration of `run`).

Anything else, errors included, goes to the typer app in `flowctl.cli`, unchanged.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Console-script entry point."""
    try:
        _dispatch(sys.argv[1:])
    except OSError as exc:
        # Only writing help or a usage error gets here (commands report their own errors):
        # stdout is a closed pipe (`flowctl --help | head -1`) or a full disk.
        _drop_stdout()
        if isinstance(exc, BrokenPipeError):
            raise SystemExit(0) from None
        print(f"flowctl: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
        raise SystemExit(1) from None


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _dispatch(argv: list[str]) -> None:
    if _invoked_as_flowctl():
        text = _cached_help(argv)
        if text is not None:
            sys.stdout.write(text)
            sys.stdout.flush()
            raise SystemExit(0)
    if argv[:1] == ["run"]:
        from flowctl.launch import pause_collector
        from flowctl.runargs import parse_run

        pause_collector()  # the run turns it back on before its first step (launch.settle)
        params = parse_run(argv[1:])
        if params is not None:
            from flowctl.commands.guard import guarded
            from flowctl.runargs import run_with

            raise SystemExit(guarded(lambda: run_with(**params)))
    from flowctl.cli import main as typer_main

    typer_main()


def _invoked_as_flowctl() -> bool:
    """Typer names the program after argv[0]; the cached help texts say `flowctl`."""
    # os.path, not pathlib: nothing on the way to a cached help imports pathlib.
    return os.path.basename(sys.argv[0]) == "flowctl"  # noqa: PTH119


def _cached_help(argv: list[str]) -> str | None:
    if not argv or argv[-1] != "--help":
        return None
    import shutil

    from flowctl.helptext import HELP_COLUMNS, cached_help

    # Narrower terminals get a text wrapped to their width, which typer renders.
    if shutil.get_terminal_size().columns < HELP_COLUMNS:
        return None
    return cached_help(" ".join(argv[:-1]))
