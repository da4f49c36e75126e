"""After a failed run: the tail of each failing step's log, root cause first."""

from __future__ import annotations

import io
from pathlib import Path
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from flowctl.progress import print_failure_tails, read_log_tail
from flowctl.runner.events import StepFinished
from flowctl.runner.results import StepResult
from flowctl.spec.model import StepType
from flowctl.status import StepStatus


def failed(step: str, log: Path | None, status: StepStatus = StepStatus.FAILED) -> StepFinished:
    return StepFinished(
        step=step,
        step_type="action",
        status=status,
        attempts=1,
        duration=0.1,
        ts=0.0,
        error="boom",
        log_path=str(log) if log else None,
    )


def write_log(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / f"{name}.log"
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def console() -> Console:
    return Console(file=io.StringIO(), width=100, force_terminal=False)


def output(out: Console) -> list[str]:
    return cast(io.StringIO, out.file).getvalue().splitlines()


def test_the_last_20_lines_of_each_failed_step_are_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A relative path, so the header fits the 100 columns however long pytest's tmp path is.
    monkeypatch.chdir(tmp_path)
    log = write_log(Path(), "ocr", [f"line {i}" for i in range(100)])
    out = console()
    assert print_failure_tails([failed("ocr", log)], out) == 1
    lines = output(out)
    assert lines[0].startswith(f"ocr: last 20 lines of {log} ──")
    assert lines[1:] == [f"line {i}" for i in range(80, 100)]


def test_root_cause_first_then_in_order_and_at_most_max_steps(tmp_path: Path) -> None:
    logs = {name: write_log(tmp_path, name, [f"{name} says hi"]) for name in "abcdefg"}
    events = [failed(name, logs[name]) for name in "abcdefg"]
    out = console()
    shown = print_failure_tails(events, out, lines=5, max_steps=3, root_cause="d")
    assert shown == 3
    said = [line for line in output(out) if "says hi" in line]
    assert said == ["d says hi", "a says hi", "b says hi"]
    assert output(out)[-1] == "… and the logs of 4 more failed steps (see `flowctl runs show`)"


def test_steps_without_a_useful_log_are_passed_over(tmp_path: Path) -> None:
    empty = write_log(tmp_path, "empty", [])
    ok = write_log(tmp_path, "ok", ["fine"])
    out = console()
    events = [
        failed("container", None),
        failed("missing", tmp_path / "nope.log"),
        failed("empty", empty),
        failed("passed", ok, StepStatus.COMPLETED),
    ]
    assert print_failure_tails(events, out) == 0
    assert output(out) == []


def test_step_results_are_accepted_too(tmp_path: Path) -> None:
    log = write_log(tmp_path, "x", ["\x1b[31mred\x1b[0m [bold]not markup[/bold]"])
    result = StepResult(
        id="loop[2].x", step_type=StepType.ACTION, status=StepStatus.FAILED, log_path=log
    )
    out = console()
    assert print_failure_tails([result], out) == 1
    assert output(out)[1] == "\\x1b[31mred\\x1b[0m [bold]not markup[/bold]"


def test_a_huge_single_line_log_is_read_only_at_its_end(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_bytes(b"x" * 1_000_000 + b"\nlast words\n")
    assert read_log_tail(path, 20, max_bytes=4096) == "last words"
    assert read_log_tail(tmp_path / "absent.log") == ""
    assert read_log_tail(path, 0) == ""


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(st.text(alphabet="ab\u00e9 ", max_size=12), max_size=40),
    count=st.integers(min_value=1, max_value=10),
    window=st.integers(min_value=1, max_value=200),
)
def test_tail_is_the_last_whole_lines_within_the_window(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], count: int, window: int
) -> None:
    path = tmp_path_factory.mktemp("tail") / "log"
    data = "".join(f"{line}\n" for line in lines).encode()
    path.write_bytes(data)
    tail = read_log_tail(path, count, max_bytes=window)
    expected = lines[-count:]
    if len(data) <= window:
        assert tail == "\n".join(expected)
    else:
        # Only whole lines that fit in the window, never a line cut at its start.
        got = tail.split("\n") if tail else []
        assert got == lines[len(lines) - len(got) :]
        assert len("".join(f"{g}\n" for g in got).encode()) <= window
