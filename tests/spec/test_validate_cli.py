"""`flowctl validate` and `flowctl schema`, in process and through the real command line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flowctl.commands.validate import run_validate
from flowctl.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
CORPUS = sorted((Path(__file__).parent / "invalid").glob("*.yaml"))
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+): (.+)$", re.MULTILINE)
ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "400"}

WARNS = """\
name: warns
steps:
  - id: a
    run: echo x=1 >> "$FLOWCTL_OUTPUT"
    output_mapping: {result.x: workflow.x}
"""


def expectations(path: Path) -> list[tuple[int, str]]:
    found = [(int(line), fragment) for line, fragment in EXPECT.findall(path.read_text())]
    assert found, f"{path.name} has no '# expect: LINE: message' line"
    return found


def flowctl(*args: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowctl", *map(str, args)],
        capture_output=True,
        text=True,
        input=stdin,
        env=ENV,
        cwd=ROOT,
        timeout=60,
    )


def assert_reported(output: str, path: Path, line: int, fragment: str) -> None:
    where = re.escape(f"{path}:{line}:")
    pattern = re.compile(rf"^{where}\d+: error: .*{re.escape(fragment)}", re.M)
    assert pattern.search(output), f"no '{path.name}:{line}: ... {fragment}' in:\n{output}"


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_invalid_spec(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_validate([path]) == 2
    out = capsys.readouterr().out
    for line, fragment in expectations(path):
        assert_reported(out, path, line, fragment)
    assert f"{path}: invalid (" in out


@pytest.mark.slow
def test_the_whole_corpus_through_the_command_line() -> None:
    result = flowctl("validate", *CORPUS)
    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    for path in CORPUS:
        for line, fragment in expectations(path):
            assert_reported(result.stdout, path, line, fragment)


@pytest.mark.slow
def test_the_whole_corpus_as_json() -> None:
    result = flowctl("validate", "--format", "json", *CORPUS)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    document = json.loads(result.stdout)
    assert document["valid"] is False
    assert [f["file"] for f in document["files"]] == [str(p) for p in CORPUS]
    for path, verdict in zip(CORPUS, document["files"], strict=True):
        assert verdict["valid"] is False
        assert verdict["steps"] is None
        for line, fragment in expectations(path):
            assert any(
                p["line"] == line and fragment in p["message"] and p["severity"] == "error"
                for p in verdict["problems"]
            ), (path.name, line, fragment)


def test_over_size_spec(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    padding = "# " + "x" * 1000 + "\n"
    big.write_text("name: big\nsteps: [{id: a, run: x}]\n" + padding * 5300)
    result = flowctl("validate", big)
    assert result.returncode == 2
    assert f"{big}:1:1: error: file is " in result.stdout
    assert "over the 5,242,880-byte limit" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_missing_file_and_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_validate([tmp_path / "nope.yaml", tmp_path]) == 2
    out = capsys.readouterr().out
    assert "nope.yaml: no such file" in out
    assert "is a directory" in out


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_validates(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_validate([path], strict=False) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^{re.escape(str(path))}: ok \(\d+ steps? in the file\)$", out, re.M), out
    assert "error:" not in out


def test_examples_through_the_command_line() -> None:
    result = flowctl("validate", *EXAMPLES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": ok (") == len(EXAMPLES)


@pytest.mark.slow
def test_installed_console_script() -> None:
    script = Path(sys.executable).parent / "flowctl"
    assert script.exists(), f"no console script at {script}"
    hello = ROOT / "examples" / "hello.yaml"
    result = subprocess.run(
        [str(script), "validate", str(hello)], capture_output=True, text=True, env=ENV, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{hello}: ok (3 steps in the file)\n"
    schema = subprocess.run(
        [str(script), "schema"], capture_output=True, text=True, env=ENV, timeout=60
    )
    assert schema.returncode == 0
    assert schema.stdout == (ROOT / "schemas" / "workflow.schema.json").read_text()


def test_ok_and_invalid_files_together(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("name: good\nsteps:\n  - {id: a, run: echo a}\n  - {id: b, run: echo b}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsteps:\n  - {id: a, run: echo a, retries: 3}\n")
    assert run_validate([good, bad]) == 2
    out = capsys.readouterr().out
    assert f"{good}: ok (2 steps in the file)\n" in out
    assert f"{bad}:3:26: error: unknown key 'retries' in step 'a'" in out
    assert f"{bad}: invalid (1 error)\n" in out


def test_warnings_are_shown_and_fatal_only_with_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "warns.yaml"
    spec.write_text(WARNS)
    assert run_validate([spec]) == 0
    out = capsys.readouterr().out
    assert f"{spec}:5:5: warning: output 'result.x' of step 'a'" in out
    assert f"{spec}: ok (1 step in the file)" in out
    assert run_validate([spec], strict=True) == 2
    out = capsys.readouterr().out
    assert f"{spec}: invalid (1 warning made fatal by --strict)" in out


def test_json_format_of_a_valid_file_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "warns.yaml"
    spec.write_text(WARNS)
    assert run_validate([spec], fmt="json") == 0
    document = json.loads(capsys.readouterr().out)
    (verdict,) = document["files"]
    assert document["valid"] is True
    assert verdict["valid"] is True
    assert verdict["steps"] == 1
    (problem,) = verdict["problems"]
    assert problem["severity"] == "warning"
    assert (problem["file"], problem["line"], problem["col"]) == (str(spec), 5, 5)
    assert run_validate([spec], fmt="json", strict=True) == 2
    assert json.loads(capsys.readouterr().out)["valid"] is False


@pytest.mark.slow
def test_standard_input() -> None:
    result = flowctl("validate", "-", stdin="name: piped\nsteps: [{id: a, run: x, bad: 1}]\n")
    assert result.returncode == 2
    assert "<stdin>:2:25: error: unknown key 'bad' in step 'a'" in result.stdout
    result = flowctl("validate", "-", stdin="name: piped\nsteps: [{id: a, run: x}]\n")
    assert (result.returncode, result.stdout) == (0, "<stdin>: ok (1 step in the file)\n")


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown format 'xml'"):
        run_validate([ROOT / "examples" / "hello.yaml"], fmt="xml")
    result = flowctl("validate", "--format", "xml", ROOT / "examples" / "hello.yaml")
    assert result.returncode == 2
    # The command line lists the choices before the core sees the value.
    assert "'xml' is not one of 'text', 'json', 'github', 'sarif'" in result.stderr
    assert "Traceback" not in result.stderr


def test_schema_command_prints_the_shipped_file(capsys: pytest.CaptureFixture[str]) -> None:
    from flowctl.commands.schema import run_schema

    assert run_schema() == 0
    printed = capsys.readouterr().out
    assert printed == (ROOT / "flowctl" / "schemas" / "workflow.schema.json").read_text()
    assert json.loads(printed)["title"] == "flowctl workflow"
