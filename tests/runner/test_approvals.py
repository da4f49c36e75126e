"""Approval decisions: folded from the journal, recorded with checks, asked on a real pty."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowctl.errors import ExitCode, StateError
from flowctl.runner.approval.decisions import (
    ApprovalDecision,
    DecisionSource,
    ask_on_tty,
    current_user,
    decisions_from_journal,
    pending_approvals,
    record_decision,
)
from flowctl.runner.approval.identity import Identity, os_user, who_is_here
from flowctl.state.audit import AuditEvent, AuditJournal, read_journal
from flowctl.state.paths import RunPaths

RUN = "20300101T000000Z-abcdef"


def paused_run(state_dir: Path, *, approvers: list[str] | None = None) -> RunPaths:
    """A run that stopped at human_task `review`, as the runner leaves it in CI."""
    paths = RunPaths(state_dir, RUN)
    paths.create()
    with AuditJournal(paths.audit, RUN, durable=False) as journal:
        journal.append("run_started", data={"workflow": "deploy"})
        journal.append("step_started", step="build", attempt=1)
        journal.append("step_completed", step="build", attempt=1, data={"duration": 0.1})
        journal.append(
            "approval_requested",
            step="review",
            data={"message": "Ship it?", "approvers": approvers or []},
        )
        journal.append("run_finished", data={"status": "waiting_approval"})
    return paths


def decision(step: str = "review", *, approved: bool = True, by: str = "alice") -> ApprovalDecision:
    return ApprovalDecision(
        step=step,
        approved=approved,
        by=by,
        comment="looks good" if approved else None,
        ts="2030-01-01T00:00:05.000000Z",
        source=DecisionSource.CLI,
    )


def event(seq: int, kind: str, step: str | None, **data: object) -> AuditEvent:
    return AuditEvent(f"2030-01-01T00:00:{seq:02d}.000000Z", seq, RUN, kind, step, None, data)


# --- the journal's view ---------------------------------------------------------------------


def test_record_decision_appends_one_durable_event(tmp_path: Path) -> None:
    paths = paused_run(tmp_path)
    record_decision(paths, decision())
    contents = read_journal(paths.audit)
    last = contents.events[-1]
    assert [e.seq for e in contents.events] == [1, 2, 3, 4, 5, 6]
    assert (last.event, last.step, last.attempt, last.run_id) == (
        "approval_decided",
        "review",
        None,
        RUN,
    )
    assert last.data == {
        "approved": True,
        "decision": "approved",
        "by": "alice",
        "comment": "looks good",
        "decided_at": "2030-01-01T00:00:05.000000Z",
        "source": "cli",
    }
    assert decisions_from_journal(contents.events) == {"review": decision()}
    assert pending_approvals(contents.events) == {}


def test_pending_and_decisions_follow_the_latest_request() -> None:
    events = [
        event(1, "approval_requested", "a"),
        event(2, "approval_requested", "b"),
        event(3, "approval_decided", "a", approved=False, by="bob", source="tty"),
        event(4, "approval_decided", "b", approved="yes", by="bob"),  # malformed: ignored
        event(5, "approval_requested", "c"),
        event(6, "approval_decided", "c", approved=True, by="carol", comment="ok", source="auto"),
        event(7, "approval_requested", "c"),  # `resume --from c`: asked again
    ]
    decided = decisions_from_journal(events)
    assert decided == {
        "a": ApprovalDecision(
            step="a",
            approved=False,
            by="bob",
            comment=None,
            ts="2030-01-01T00:00:03.000000Z",
            source=DecisionSource.TTY,
        )
    }
    assert list(pending_approvals(events)) == ["b", "c"]
    assert pending_approvals(events)["c"].seq == 7


def test_unknown_source_is_read_as_cli() -> None:
    events = [event(1, "approval_decided", "a", approved=True, by="x", source="carrier-pigeon")]
    assert decisions_from_journal(events)["a"].source is DecisionSource.CLI


# --- refusals -------------------------------------------------------------------------------


def refusal(paths: RunPaths, made: ApprovalDecision) -> str:
    with pytest.raises(StateError) as info:
        record_decision(paths, made)
    assert info.value.exit_code is ExitCode.USAGE
    return str(info.value)


def test_refuses_a_run_that_does_not_exist(tmp_path: Path) -> None:
    message = refusal(RunPaths(tmp_path, "nope"), decision())
    assert message == f"no run 'nope' in {tmp_path / 'runs'}"


def test_refuses_a_run_without_a_journal(tmp_path: Path) -> None:
    paths = RunPaths(tmp_path, RUN)
    paths.create()
    assert refusal(paths, decision()) == f"run {RUN} has no audit journal ({paths.audit})"


def test_refuses_an_unknown_step_with_a_suggestion(tmp_path: Path) -> None:
    paths = paused_run(tmp_path)
    assert refusal(paths, decision("reveiw")) == (
        f"run {RUN} has no step 'reveiw'; did you mean review?"
    )
    assert refusal(paths, decision("zzz")) == (
        f"run {RUN} has no step 'zzz'; waiting for approval: review"
    )


def test_refuses_a_step_that_is_not_waiting(tmp_path: Path) -> None:
    paths = paused_run(tmp_path)
    assert refusal(paths, decision("build")) == (
        f"step 'build' of run {RUN} is not waiting for approval; waiting for approval: review"
    )


def test_refuses_a_second_decision(tmp_path: Path) -> None:
    paths = paused_run(tmp_path)
    record_decision(paths, decision())
    size = paths.audit.stat().st_size
    assert refusal(paths, decision(approved=False, by="bob")) == (
        f"step 'review' of run {RUN} was already approved by alice at "
        f"2030-01-01T00:00:05.000000Z; continue it with `flowctl resume {RUN}`"
    )
    assert paths.audit.stat().st_size == size


def test_refuses_someone_who_is_not_an_approver(tmp_path: Path) -> None:
    paths = paused_run(tmp_path, approvers=["alice", "bob"])
    assert refusal(paths, decision(by="mallory")) == (
        f"'mallory' is not an approver of step 'review' of run {RUN}"
    )
    record_decision(paths, decision(by="bob"))
    assert decisions_from_journal(read_journal(paths.audit).events)["review"].by == "bob"


def test_refuses_while_the_run_is_still_writing_its_journal(tmp_path: Path) -> None:
    paths = RunPaths(tmp_path, RUN)
    paths.create()
    runner = subprocess.Popen(["sleep", "30"])
    try:
        with AuditJournal(paths.audit, RUN, durable=False) as journal:
            journal.append(
                "run_started",
                data={"pid": runner.pid, "host": socket.gethostname(), "step_ids": ["review"]},
            )
            journal.append("approval_requested", step="review", data={})
        assert refusal(paths, decision()) == (
            f"run {RUN} is still running (pid {runner.pid}); decide once it has stopped "
            "(it exits 4 when only approvals are left)"
        )
    finally:
        runner.kill()
        runner.wait()
    record_decision(paths, decision())  # killed without run_finished: decidable, resumable
    assert decisions_from_journal(read_journal(paths.audit).events)["review"].by == "alice"


def test_a_step_listed_at_run_start_but_never_reached_is_not_waiting(tmp_path: Path) -> None:
    paths = RunPaths(tmp_path, RUN)
    paths.create()
    with AuditJournal(paths.audit, RUN, durable=False) as journal:
        journal.append("run_started", data={"step_ids": ["build", "review", "final_review"]})
        journal.append("approval_requested", step="review", data={})
        journal.append("run_finished", data={"status": "waiting_approval"})
    assert refusal(paths, decision("final_review")) == (
        f"step 'final_review' of run {RUN} is not waiting for approval; "
        "waiting for approval: review"
    )


def test_after_a_torn_tail_the_decision_starts_on_a_new_line(tmp_path: Path) -> None:
    paths = paused_run(tmp_path)
    with paths.audit.open("ab") as handle:
        handle.write(b'{"ts": "2030-01-01T00:00:09Z", "seq": 6, "ev')  # a crash mid-write
    record_decision(paths, decision())
    contents = read_journal(paths.audit)
    assert contents.bad_lines == [6]
    assert contents.events[-1].event == "approval_decided"
    assert contents.events[-1].seq == 6


@pytest.mark.slow
def test_concurrent_deciders_only_one_wins(tmp_path: Path) -> None:
    """Eight real processes race to decide the same step: exactly one event is written."""
    paths = paused_run(tmp_path)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from flowctl.errors import StateError\n"
        "from flowctl.runner.approval.decisions import (\n"
        "    ApprovalDecision, DecisionSource, record_decision,\n"
        ")\n"
        "from flowctl.state.paths import RunPaths\n"
        f"paths = RunPaths(Path({str(tmp_path)!r}), {RUN!r})\n"
        "d = ApprovalDecision(step='review', approved=True, by=sys.argv[1], comment=None,\n"
        "                     ts='t', source=DecisionSource.CLI)\n"
        "try:\n"
        "    record_decision(paths, d)\n"
        "except StateError:\n"
        "    sys.exit(2)\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, f"user{i}"], stderr=subprocess.PIPE)
        for i in range(8)
    ]
    results = [(p.communicate(timeout=60)[1], p.returncode) for p in procs]
    assert sorted(code for _, code in results) == [0] + [2] * 7, results
    assert all(err == b"" for err, _ in results)
    decided = [e for e in read_journal(paths.audit).events if e.event == "approval_decided"]
    assert len(decided) == 1


# --- the terminal ---------------------------------------------------------------------------


@pytest.fixture
def pty() -> Iterator[tuple[int, str]]:
    """A real pseudo-terminal: (master fd the test types into, the terminal's path)."""
    master, slave = os.openpty()
    os.set_blocking(master, False)
    try:
        yield master, os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


def screen(master: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except (BlockingIOError, OSError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def test_asks_and_returns_the_answer(pty: tuple[int, str]) -> None:
    master, terminal = pty
    os.write(master, b"y\nlooks good\n")
    made = asyncio.run(
        ask_on_tty(
            "Ship v2?", [], 5.0, step="review", terminal=terminal, identity=Identity("alice")
        )
    )
    assert made is not None
    assert (made.step, made.approved, made.by, made.comment) == (
        "review",
        True,
        "alice",
        "looks good",
    )
    assert made.source is DecisionSource.TTY
    shown = screen(master)
    assert "Approval needed for step 'review': Ship v2?" in shown
    assert "Approve? [y/n]: " in shown
    assert "Step 'review' approved by alice: looks good." in shown


def test_asks_again_until_y_or_n_and_rejects(pty: tuple[int, str]) -> None:
    master, terminal = pty
    os.write(master, b"maybe\nNO\n\n")
    made = asyncio.run(
        ask_on_tty("Ship?", [], 5.0, step="s", terminal=terminal, identity=Identity("u"))
    )
    assert made is not None
    assert (made.approved, made.comment) == (False, None)
    assert "Please answer y or n." in screen(master)


def test_a_known_user_who_is_not_an_approver_is_not_asked(pty: tuple[int, str]) -> None:
    master, terminal = pty
    os.write(master, b"bob\nyes\n\n")  # typing an approver's name must not help
    made = asyncio.run(
        ask_on_tty(
            "Ship?",
            ["alice", "bob"],
            5.0,
            step="s",
            run_id=RUN,
            terminal=terminal,
            identity=Identity("eve"),
        )
    )
    assert made is None
    shown = screen(master)
    assert "You (eve) are not an approver of this step" in shown
    assert f"`flowctl approve {RUN} s`" in shown and "Approve?" not in shown


def test_without_a_known_user_the_typed_name_must_be_an_approver(pty: tuple[int, str]) -> None:
    master, terminal = pty
    os.write(master, b"mallory\nbob\nyes\nfine\n")
    made = asyncio.run(
        ask_on_tty("Ship?", ["alice", "bob"], 5.0, step="s", terminal=terminal, identity=Identity())
    )
    assert made is not None
    assert (made.by, made.approved, made.comment) == ("bob", True, "fine")
    assert screen(master).count("Your name: ") == 2


def test_timeout_returns_none_and_never_blocks_the_loop(pty: tuple[int, str]) -> None:
    master, terminal = pty

    async def scenario() -> tuple[ApprovalDecision | None, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        made = await ask_on_tty(
            "Ship?", [], 0.3, step="s", run_id=RUN, terminal=terminal, identity=Identity("u")
        )
        task.cancel()
        return made, ticks

    made, ticks = asyncio.run(scenario())
    assert made is None
    # The ticker's 10 ms timer is due before the 0.3 s one: a prompt that awaited (rather
    # than blocked the loop) let it tick at least once, however slow the machine.
    assert ticks >= 1
    assert f"No answer within 0.3 s; the run will wait for `flowctl approve {RUN} s`." in screen(
        master
    )


def test_end_of_input_is_no_answer(pty: tuple[int, str]) -> None:
    master, terminal = pty
    os.write(master, b"\x04")  # Ctrl-D
    assert asyncio.run(ask_on_tty("Ship?", [], 5.0, step="s", terminal=terminal)) is None


def test_control_characters_in_the_message_are_shown_escaped(pty: tuple[int, str]) -> None:
    master, terminal = pty
    os.write(master, b"y\n\n")
    asyncio.run(ask_on_tty("\x1b]0;pwned\x07Ship?", [], 5.0, step="s", terminal=terminal))
    shown = screen(master)
    assert "\x1b" not in shown
    assert "\\x1b]0;pwned\\x07Ship?" in shown


def test_without_a_terminal_there_is_no_answer(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-tty")
    assert asyncio.run(ask_on_tty("Ship?", [], 1.0, step="s", terminal=missing)) is None


def test_current_user_is_the_ci_actor_else_the_os_user_never_dollar_user() -> None:
    me = os_user()
    assert current_user({"USER": "zoë"}) == (me or "unknown")
    github = {"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "octocat", "USER": "zoë"}
    assert current_user(github) == "octocat"
    assert who_is_here(github) == Identity(me, "github", "octocat")
    gitlab = {"GITLAB_CI": "true", "GITLAB_USER_LOGIN": "tanuki"}
    assert who_is_here(gitlab) == Identity(me, "gitlab", "tanuki")
    assert current_user({"GITHUB_ACTOR": "octocat"}) == (me or "unknown")  # not in CI
    assert who_is_here({}, euid=2**31 - 7) == Identity(None)  # a uid without a name


def test_decision_data_is_json() -> None:
    assert json.loads(json.dumps(decision().to_data()))["decision"] == "approved"
