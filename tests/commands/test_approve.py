"""`flowctl approve RUN_ID STEP`: records who decided, refuses what cannot be decided."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from flowctl.commands.approve import run_approve
from flowctl.errors import ExitCode, FlowctlError, StateError, UsageError
from flowctl.runner.approval.decisions import (
    DecisionSource,
    decisions_from_journal,
    pending_approvals,
)
from flowctl.state.audit import AuditJournal, read_journal
from flowctl.state.paths import RunPaths

RUN = "20300101T000000Z-0a1b2c"


@pytest.fixture(autouse=True)
def github_actor_alice(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests decide as alice, the actor GitHub Actions vouches for."""
    monkeypatch.delenv("GITLAB_CI", raising=False)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_ACTOR", "alice")


def paused_run(state_dir: Path, run_id: str = RUN, *, approvers: tuple[str, ...] = ()) -> Path:
    """The journal of a run paused at human_task `review` (exit 4 in CI)."""
    paths = RunPaths(state_dir, run_id)
    paths.create()
    with AuditJournal(paths.audit, run_id) as journal:
        journal.append("run_started", data={"workflow": "release", "resumed": False})
        journal.append("step_started", step="build", attempt=1)
        journal.append("step_completed", step="build", attempt=1, data={"outputs": {}})
        journal.append(
            "approval_requested",
            step="review",
            data={"message": "Release 2.0?", "approvers": list(approvers)},
        )
        journal.append("run_finished", data={"status": "waiting_approval"})
    return paths.audit


def approve(state_dir: Path, step: str = "review", run_id: str = RUN, **options: object) -> int:
    settings: dict[str, object] = {"reject": False, "by": "alice", "comment": None}
    settings.update(options)
    return run_approve(state_dir, run_id, step, **settings)  # type: ignore[arg-type]


def test_approve_records_and_says_what_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / ".flowctl"
    audit = paused_run(state)
    assert approve(state, comment="checked the changelog") == ExitCode.OK
    out = capsys.readouterr().out
    assert out == (
        f"step 'review' of run {RUN} approved by alice: checked the changelog\n"
        f"next: flowctl resume {RUN} --state-dir {state}\n"
    )
    events = read_journal(audit).events
    decided = decisions_from_journal(events)["review"]
    assert (decided.approved, decided.by, decided.comment) == (
        True,
        "alice",
        "checked the changelog",
    )
    assert decided.source is DecisionSource.CLI
    assert events[-1].seq == 6
    assert pending_approvals(events) == {}


def test_reject_and_default_state_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    paused_run(Path(".flowctl"))
    assert approve(Path(".flowctl"), reject=True, comment="not on a Friday") == ExitCode.OK
    assert capsys.readouterr().out == (
        f"step 'review' of run {RUN} rejected by alice: not on a Friday\n"
        f"next: flowctl resume {RUN}\n"
    )
    decided = decisions_from_journal(
        read_journal(Path(".flowctl/runs") / RUN / "audit.jsonl").events
    )
    assert decided["review"].approved is False


def test_by_defaults_to_the_verified_user(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    audit = paused_run(tmp_path)
    monkeypatch.setenv("USER", "dora")  # set by the caller: not an identity
    approve(tmp_path, by=None)
    assert "approved by alice\n" in capsys.readouterr().out
    decided = decisions_from_journal(read_journal(audit).events)["review"]
    assert (decided.by, decided.claimed_by) == ("alice", None)


def test_outside_ci_the_os_user_decides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    audit = paused_run(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS")
    monkeypatch.setenv("USER", "dora")
    approve(tmp_path, by=None)
    data = read_journal(audit).events[-1].data
    assert data["by"] == data["os_user"] == pwd.getpwuid(os.geteuid()).pw_name
    assert "ci_actor" not in data and "claimed_by" not in data


def test_a_unique_prefix_of_the_run_id_is_enough(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paused_run(tmp_path)
    approve(tmp_path, run_id=RUN[:12])
    assert f"of run {RUN} approved" in capsys.readouterr().out


def error_of(state_dir: Path, **kwargs: object) -> FlowctlError:
    with pytest.raises(FlowctlError) as info:
        approve(state_dir, **kwargs)  # type: ignore[arg-type]
    assert info.value.exit_code is ExitCode.USAGE
    return info.value


def test_unknown_run(tmp_path: Path) -> None:
    paused_run(tmp_path)
    err = error_of(tmp_path, run_id="20300101T000000Z-0a1b2d")
    assert isinstance(err, StateError)
    assert str(err) == (
        f"no run '20300101T000000Z-0a1b2d' in {tmp_path / 'runs'}; did you mean {RUN}?"
    )
    assert str(error_of(tmp_path / "empty", run_id="x")) == (
        f"no run 'x': there are no runs in {tmp_path / 'empty' / 'runs'}"
    )


def test_hostile_run_id_names_nothing_outside_the_state_dir(tmp_path: Path) -> None:
    paused_run(tmp_path / "state")
    err = error_of(tmp_path / "state", run_id="../../etc")
    assert "no run '../../etc'" in str(err)


def test_unknown_step(tmp_path: Path) -> None:
    paused_run(tmp_path)
    assert str(error_of(tmp_path, step="reviw")) == (
        f"run {RUN} has no step 'reviw'; did you mean review?"
    )


def test_step_not_waiting(tmp_path: Path) -> None:
    paused_run(tmp_path)
    assert str(error_of(tmp_path, step="build")) == (
        f"step 'build' of run {RUN} is not waiting for approval; waiting for approval: review"
    )


def test_already_decided(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    audit = paused_run(tmp_path)
    approve(tmp_path)
    capsys.readouterr()
    before = audit.read_bytes()
    message = str(error_of(tmp_path, reject=True, by="bob"))
    assert message.startswith(f"step 'review' of run {RUN} was already approved by alice at ")
    assert message.endswith(f"; continue it with `flowctl resume {RUN}`")
    assert audit.read_bytes() == before
    assert capsys.readouterr().out == ""


def test_not_an_approver_and_a_claimed_name_does_not_help(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit = paused_run(tmp_path, approvers=("alice", "bob"))
    monkeypatch.setenv("GITHUB_ACTOR", "eve")
    before = audit.read_bytes()
    assert str(error_of(tmp_path, by=None)) == (
        f"'eve' is not an approver of step 'review' of run {RUN}"
    )
    message = str(error_of(tmp_path, by="alice"))
    assert message == (
        f"'eve' is not an approver of step 'review' of run {RUN} (the claimed name 'alice' "
        "does not count when the user is known)"
    )
    assert "bob" not in message  # which names would pass is not said
    assert audit.read_bytes() == before
    monkeypatch.setenv("GITHUB_ACTOR", "bob")
    approve(tmp_path, by="carol")
    data = read_journal(audit).events[-1].data
    assert (data["by"], data["claimed_by"], data["ci_platform"], data["ci_actor"]) == (
        "bob",
        "carol",
        "github",
        "bob",
    )
    assert data["os_user"] == pwd.getpwuid(os.geteuid()).pw_name


def test_empty_by_and_huge_comment_are_usage_errors(tmp_path: Path) -> None:
    paused_run(tmp_path)
    err = error_of(tmp_path, by="  ")
    assert isinstance(err, UsageError)
    assert str(err) == "--by must name someone"
    err = error_of(tmp_path, comment="x" * 5000)
    assert str(err) == "--comment is longer than 4096 characters"


def test_control_characters_never_reach_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paused_run(tmp_path)
    approve(tmp_path, by="al\x1b[2Jice", comment="ok\nbut\x07")
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "approved by alice (claimed: al\\x1b[2Jice): ok\\x0abut\\x07" in out
