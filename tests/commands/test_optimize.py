"""run_optimize and `flowctl optimize`: formats, files, warnings, colour, errors."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flowctl.commands.optimize import run_optimize
from flowctl.errors import SpecError, UsageError
from flowctl.optimize.render import bar, render_markdown
from tests.optimize.kit import analyze, run, step, write
from tests.optimize.test_parallelization import SPEC
from tests.optimize.test_schema import validator


def history(tmp_path: Path, bad_lines: int = 0) -> Path:
    path = tmp_path / "history.jsonl"
    with path.open("w") as f:
        f.writelines(f"bad line {i}\n" for i in range(bad_lines))
    records = [
        run(
            i,
            [step("a", 2.0), step("b", 4.0, inputs=f"d{i % 2}", outputs=f"t{i % 2}")],
            edges=[("a", "b")],
        )
        for i in range(10)
    ]
    return write(path, records)


def call(path: Path, **options: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    settings: dict[str, object] = {
        "workflow": None,
        "top": 5,
        "fmt": "table",
        "output": None,
        "spec_path": None,
    }
    settings.update(options)
    code = run_optimize(path, stdout=out, stderr=err, **settings)  # type: ignore[arg-type]
    return code, out.getvalue(), err.getvalue()


def test_json_to_stdout_is_the_documented_report(tmp_path: Path) -> None:
    code, out, err = call(history(tmp_path), fmt="json")
    assert code == 0 and err == ""
    data = json.loads(out)
    validator().validate(data)
    assert data["recommendations"][0]["id"] == "caching:b"


def test_markdown_for_a_pull_request(tmp_path: Path) -> None:
    code, out, _ = call(history(tmp_path), fmt="markdown", top=1)
    assert code == 0
    assert out.startswith("## flowctl optimize: wf\n")
    assert "### Recommendations (1 of " in out
    assert "| Step | Type | Runs |" in out
    assert "```yaml\n   - id: b\n     cache: {key: '{{ params | tojson }}'}\n   ```" in out


def test_table_to_a_pipe_is_plain_and_wide_enough(tmp_path: Path) -> None:
    code, out, _ = call(history(tmp_path))
    assert code == 0
    assert "\x1b[" not in out
    assert "Optimization score" in out and "Critical path" in out and "caching:b" in out
    assert max(len(line) for line in out.splitlines()) <= 120


def test_output_goes_to_the_file(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    code, out, _ = call(history(tmp_path), fmt="markdown", output=target)
    assert (code, out) == (0, "")
    assert target.read_text().startswith("## flowctl optimize")
    table = tmp_path / "report.txt"
    call(history(tmp_path / ".."), output=table)
    assert "Steps" in table.read_text() and "\x1b[" not in table.read_text()


def test_malformed_lines_are_warned_on_stderr(tmp_path: Path) -> None:
    path = history(tmp_path, bad_lines=2)
    _, _, err = call(path, fmt="json")
    assert err.splitlines() == [
        f"{path}:1: not valid JSON (Expecting value)",
        f"{path}:2: not valid JSON (Expecting value)",
    ]


def test_many_malformed_lines_are_counted_not_listed(tmp_path: Path) -> None:
    path = history(tmp_path, bad_lines=25)
    _, _, err = call(path, fmt="json")
    lines = err.splitlines()
    assert len(lines) == 21 and lines[-1] == f"{path}: ... and 5 more malformed lines"


def test_usage_errors(tmp_path: Path) -> None:
    path = history(tmp_path)
    with pytest.raises(UsageError, match="--format must be one of table, json, markdown"):
        call(path, fmt="xml")
    with pytest.raises(UsageError, match="--top must be 0 or more"):
        call(path, top=-2)
    with pytest.raises(UsageError, match="cannot write"):
        call(path, fmt="json", output=tmp_path / "no" / "such" / "dir" / "r.json")


def test_with_spec(tmp_path: Path) -> None:
    spec = tmp_path / "wf.yaml"
    spec.write_text(SPEC)
    records = [
        run(i, [step("a", 2.0), step("b", 3.0), step("c", 1.0)], edges=[("a", "b"), ("a", "c")])
        for i in range(3)
    ]
    path = write(tmp_path / "h.jsonl", records)
    _code, out, _ = call(path, fmt="json", spec_path=spec)
    data = json.loads(out)
    assert data["history"]["spec"] == str(spec)
    assert [r["id"] for r in data["recommendations"]] == ["parallelization:b"]
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nsteps: yes\n")
    with pytest.raises(SpecError):
        call(path, spec_path=broken)


def test_names_from_the_history_cannot_inject_markup_or_escapes(tmp_path: Path) -> None:
    evil = "[bold red]x\x1b[31m|*_"
    records = [run(i, [step(evil, 1.0 + i)], workflow="w`f") for i in range(3)]
    path = write(tmp_path / "h.jsonl", records)
    _, out, _ = call(path)
    assert "\x1b" not in out and "[bold red]x\\x1b[31m|*_" in out
    markdown = render_markdown(analyze(path))
    assert "\\[bold red\\]x\\\\x1b\\[31m\\|\\*\\_" in markdown and "\x1b" not in markdown


def test_bar() -> None:
    assert bar(5.0, 10.0, 10.0, width=10) == "█████░░░░░"
    assert bar(2.5, 2.5, 10.0, width=10) == "██▌"
    assert bar(0.0, 0.0, 0.0) == ""


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowctl", "optimize", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_the_cli_command(tmp_path: Path) -> None:
    path = history(tmp_path, bad_lines=1)
    done = _cli(str(path), "--format", "json", "--top", "1", "--workflow", "wf")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert len(data["recommendations"]) == 1 and data["workflow"] == "wf"
    assert done.stderr == f"{path}:1: not valid JSON (Expecting value)\n"


@pytest.mark.slow
def test_the_cli_exits_2_with_one_line_for_a_bad_history(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text("nope\n")
    done = _cli(str(path))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"{path}: no usable run records" in done.stderr
    missing = _cli(str(tmp_path / "missing.jsonl"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def _on_a_terminal(path: Path, env: dict[str, str]) -> str:
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowctl", "optimize", str(path)],
        stdout=follower,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    return b"".join(chunks).decode()


@pytest.mark.slow
def test_colour_on_a_terminal_unless_no_color(tmp_path: Path) -> None:
    path = history(tmp_path)
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    base.update(COLUMNS="140", TERM="xterm-256color")
    coloured = _on_a_terminal(path, base)
    plain = _on_a_terminal(path, {**base, "NO_COLOR": "1"})
    assert _colours(coloured)
    assert "Optimization score" in plain and not _colours(plain)


def _colours(text: str) -> set[str]:
    """Colour parameters of SGR sequences (bold, dim and italic are not colour)."""
    found = set()
    for params in re.findall(r"\x1b\[([0-9;]*)m", text):
        for p in params.split(";"):
            if p.isdigit() and (30 <= int(p) <= 48 or 90 <= int(p) <= 107):
                found.add(p)
    return found
