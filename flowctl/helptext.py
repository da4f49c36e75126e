"""The help texts of every command, as typer renders them, kept in helptext.json.

`flowctl COMMAND --help` is read from that file by the entry point without importing typer
(see flowctl/entry.py). The texts are typer's own: `python -m flowctl.helptext` renders them
again and rewrites the file, and tests/test_entry.py fails while the file and a fresh
rendering differ, so a changed option cannot leave a stale help behind.
"""

from __future__ import annotations

import json
import os

# click wraps help text at min(terminal columns, 80) - 2: the file holds what every
# terminal at least this wide, and every output that is not a terminal, gets.
HELP_COLUMNS = 80
# os.path, not pathlib: nothing on the way to a cached help imports pathlib.
HELP_FILE = os.path.join(os.path.dirname(__file__), "helptext.json")  # noqa: PTH118, PTH120


def cached_help(command: str) -> str | None:
    """The stored help of `command` ("" for flowctl itself, "runs show" for a subcommand)."""
    with open(HELP_FILE, encoding="utf-8") as stream:
        texts: dict[str, str] = json.load(stream)
    return texts.get(command)


def render_help() -> dict[str, str]:
    """Every command's help as typer prints it to a terminal HELP_COLUMNS wide."""
    import contextlib
    import io
    from unittest import mock

    import typer

    from flowctl.cli import app

    def paths(command: object, prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
        found = [prefix]
        for name in getattr(command, "commands", {}):
            found += paths(command.commands[name], (*prefix, name))  # type: ignore[attr-defined]
        return found

    texts: dict[str, str] = {}
    with mock.patch.dict(os.environ, {"COLUMNS": str(HELP_COLUMNS)}):
        for path in paths(typer.main.get_command(app), ()):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                app([*path, "--help"], prog_name="flowctl", standalone_mode=False)
            texts[" ".join(path)] = out.getvalue()
    return texts


def write_help() -> None:
    with open(HELP_FILE, "w", encoding="utf-8") as stream:
        json.dump(render_help(), stream, indent=1, ensure_ascii=False)
        stream.write("\n")


if __name__ == "__main__":
    write_help()
