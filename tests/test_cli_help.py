"""Help that reads as a reference: choices listed, no Python type names, nothing cut short."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Every command and subcommand: the keys of the stored help texts, which tests/test_entry.py
# keeps equal to what typer renders from the app (so a new command is checked here too).
COMMANDS = [
    tuple(name.split())
    for name in json.loads((REPO / "flowctl" / "helptext.json").read_text(encoding="utf-8"))
    if name
]
PYTHON_TYPES = re.compile(r"<(str|int|float|bool|path|Path|list\[[^>]*\]|int range)>")


def help_of(*command: str) -> str:
    env = {**os.environ, "COLUMNS": "100", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "flowctl", *command, "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_no_python_type_names(command: tuple[str, ...]) -> None:
    text = help_of(*command)
    assert not PYTHON_TYPES.search(text), text


def test_enum_options_list_their_choices() -> None:
    assert "--format <text|json|github|sarif>" in help_of("validate")
    run = help_of("run")
    assert "--output <text|json>" in run and "--show-output <failed|all|none>" in run
    assert "--format <mermaid|dot>" in help_of("graph")
    assert "--format <table|json|markdown>" in help_of("optimize")
    assert "--format <table|json>" in help_of("agents")


def test_command_descriptions_are_whole() -> None:
    text = help_of()
    listed = text[text.index("Commands:") :]
    assert "..." not in listed and "…" not in listed, listed
    assert "Continue a failed, interrupted, timed-out or paused run." in listed
