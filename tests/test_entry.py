"""The entry point's fast paths give exactly what the typer app gives, without importing it."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st

import flowctl.runargs
from flowctl.cli import app
from flowctl.helptext import HELP_FILE, render_help
from flowctl.runargs import RUN_OPTIONS, Opt, parse_run

REPO = Path(__file__).resolve().parents[1]

PROBE = """
import sys
sys.argv = ["flowctl", *sys.argv[1:]]
from flowctl.entry import main
try:
    main()
except SystemExit as exit:
    code = exit.code
print("\\nPROBE:" + ",".join(m for m in ("typer", "rich") if m in sys.modules) + f":{code}")
"""


# The entry point as the `flowctl` script runs it, and nothing after it.
ENTRY = "import sys; sys.argv = ['flowctl', *sys.argv[1:]]; from flowctl.entry import main; main()"


def probe(*args: str, env: dict[str, str] | None = None) -> tuple[str, list[str], int]:
    """Run the entry point as the `flowctl` script would: (stdout, frameworks imported, code)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )
    out, _, mark = done.stdout.rpartition("\nPROBE:")
    modules, _, code = mark.strip().partition(":")
    return out, [m for m in modules.split(",") if m], int(code)


def test_the_stored_help_is_what_typer_renders_now() -> None:
    with open(HELP_FILE, encoding="utf-8") as stream:
        stored = json.load(stream)
    assert stored == render_help(), (
        "flowctl/helptext.json is stale: run `python -m flowctl.helptext` and commit it"
    )


@pytest.mark.parametrize("command", ["", "run", "runs show", "cache clear"])
def test_help_comes_from_the_store_without_typer_or_rich(command: str) -> None:
    out, imported, code = probe(*command.split(), "--help")
    assert code == 0
    assert imported == []
    assert out == render_help()[command]


def test_a_narrow_terminal_gets_help_wrapped_by_typer() -> None:
    out, imported, code = probe("run", "--help", env={"COLUMNS": "60"})
    assert code == 0
    assert "typer" in imported
    assert max(map(len, out.splitlines())) <= 60


def test_a_plain_run_line_is_run_without_typer(tmp_path: Path) -> None:
    spec = tmp_path / "flow.yaml"
    spec.write_text("name: quick\nsteps:\n  - id: a\n    run: /bin/true\n")
    out, imported, code = probe(
        "run", str(spec), "--state-dir", str(tmp_path / "state"), "--output", "JSON"
    )
    assert code == 0
    assert "typer" not in imported
    assert json.loads(out)["status"] == "completed"


def test_a_line_the_fast_parser_refuses_gets_typer_s_error() -> None:
    _, imported, code = probe("run", "flow.yaml", "--max-parallel", "0")
    assert code == 2
    assert "typer" in imported


def test_the_option_table_is_typer_s_declaration_of_run() -> None:
    command = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    declared = {}
    for param in command.params:
        if param.param_type_name == "argument":
            assert param.name == "spec"
            continue
        declared[param.name] = (
            frozenset(param.opts + param.secondary_opts),
            param.is_flag,
            param.multiple,
        )
    ours = {
        opt.dest: (frozenset(opt.names), opt.convert is None, opt.multiple) for opt in RUN_OPTIONS
    }
    assert ours == declared


@pytest.mark.parametrize(
    "words",
    [
        [],
        ["--dry-run"],
        ["a.yaml", "b.yaml"],
        ["a.yaml", "--bogus"],
        ["a.yaml", "--max-parallel", "0"],
        ["a.yaml", "--max-parallel", "007"],
        ["a.yaml", "--workers", "two"],
        ["a.yaml", "--output", "xml"],
        ["a.yaml", "--dry-run=1"],
        ["a.yaml", "-qk"],
        ["a.yaml", "--input"],
        ["a.yaml", "--input", "-x"],
        ["a.yaml", "--", "b"],
        ["a.yaml", "--help"],
        ["-"],
        ["a.yaml", "--state-dir="],
    ],
)
def test_lines_it_does_not_know_exactly_are_left_to_typer(words: list[str]) -> None:
    assert parse_run(words) is None


def _typer_params(words: list[str]) -> dict[str, Any] | None:
    captured: list[dict[str, Any]] = []

    def capture(**params: Any) -> int:
        captured.append(params)
        return 0

    with mock.patch.object(flowctl.runargs, "run_with", capture), contextlib.suppress(typer.Exit):
        app(["run", *words], standalone_mode=False)
    return captured[0] if captured else None


_VALUES = st.sampled_from(["a=1", "x", "tcp://h:8786", "dir/f.json", "JSON", "all", "3", "12"])


@st.composite
def _run_lines(draw: st.DrawFn) -> list[str]:
    words: list[str] = []
    for _ in range(draw(st.integers(0, 8))):
        opt: Opt = draw(st.sampled_from(RUN_OPTIONS))
        name = draw(st.sampled_from(opt.names))
        if opt.convert is None:
            words.append(name)
            continue
        value = draw(_VALUES)
        if draw(st.booleans()) and name.startswith("--"):
            words.append(f"{name}={value}")
        else:
            words += [name, value]
    words.insert(draw(st.integers(0, len(words))), "flow.yaml")
    return words


@settings(max_examples=300, deadline=None)
@given(_run_lines())
def test_what_the_fast_parser_accepts_typer_parses_the_same(words: list[str]) -> None:
    ours = parse_run(words)
    if ours is not None:
        assert ours == _typer_params(words)


def test_a_line_with_every_kind_of_option_is_parsed_as_typer_does() -> None:
    words = [
        "-i", "a=1", "--input=b=2", "flow.yaml", "--max-parallel", "4", "--dry-run", "-q",
        "--output", "JSON", "--show-output=all", "--state-dir", "st", "--force-run", "x",
        "--force-run", "y", "--workers", "2", "--workers", "3", "-k",
    ]  # fmt: skip
    ours = parse_run(words)
    assert ours is not None
    assert ours == _typer_params(words)
    assert ours["input"] == ["a=1", "b=2"] and ours["workers"] == 3


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("args", [["run", "--help"], ["--version"], ["--help"]])
def test_output_that_cannot_be_written_is_one_message_not_a_traceback(args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-c", ENTRY, *args],
            cwd=REPO,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert "Traceback" not in done.stderr
    assert "flowctl: cannot write the output: No space left on device" in done.stderr
    assert done.returncode != 0


def test_a_closed_pipe_ends_the_help_quietly() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", ENTRY, "run", "--help"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as reader:
        assert reader.stdout is not None and reader.stderr is not None
        reader.stdout.close()  # like `| head -0`: nobody reads
        errors = reader.stderr.read().decode()
        assert reader.wait(timeout=60) == 0
    assert errors == ""
