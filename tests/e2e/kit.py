"""End-to-end kit: write a spec, run `python -m flowctl ...` as a user would, read the state dir.

Everything goes through the command line and the files of SPEC.md section 5 (audit.jsonl,
report.json, history.jsonl); the only flowctl import is the journal reader, which is how a
tool would read the audit log. Runs are headless: CI=true, stdin from /dev/null, no TTY.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowctl.state.audit import AuditEvent, JournalContents, read_journal
from tests.cli import REPO as REPO  # re-exported: tests written before tests.cli import it here
from tests.cli import TIMEOUT, cli_env, wait_for
from tests.cli import process_gone as process_gone

DEFAULT_TIMEOUT = TIMEOUT


def q(value: object) -> str:
    """A value spelled as a YAML scalar (JSON is YAML): paths, strings with spaces."""
    return json.dumps(str(value))


def line_counts(path: Path) -> Counter[str]:
    """How many times each line occurs in a counter file (absent file: nothing ran)."""
    if not path.exists():
        return Counter()
    return Counter(line.strip() for line in path.read_text().splitlines() if line.strip())


def lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines()] if path.exists() else []


@dataclass(frozen=True)
class Proc:
    """How one flowctl command ended."""

    argv: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def explain(self) -> str:
        return f"$ {' '.join(self.argv)}\nexit {self.code}\n{self.stdout}\n{self.stderr}"


@dataclass(frozen=True)
class RunFiles:
    """The files one run left under the state dir (SPEC.md section 5)."""

    state: Path
    run_id: str

    @property
    def dir(self) -> Path:
        return self.state / "runs" / self.run_id

    @property
    def audit(self) -> Path:
        return self.dir / "audit.jsonl"

    def journal(self) -> JournalContents:
        return read_journal(self.audit)

    def events(self) -> list[AuditEvent]:
        """Every event; the journal must be whole (no garbage, no torn tail)."""
        contents = self.journal()
        assert not contents.bad_lines and not contents.torn_tail, contents
        return contents.events

    def named(self, event: str, step: str | None = None) -> list[AuditEvent]:
        return [e for e in self.events() if e.event == event and (step is None or e.step == step)]

    def steps_with(self, event: str) -> list[str]:
        """Steps named by `event`, in journal order (repeats kept)."""
        return [e.step for e in self.events() if e.event == event and e.step is not None]

    def outputs(self, step: str) -> dict[str, Any]:
        """The outputs of the step's last step_completed event; a loop's iterations (and
        labels) are rebuilt from its children's events (and loop_labels), as resume does."""
        from flowctl.runner.loop_outputs import rebuild_loop_outputs
        from flowctl.runner.resume.restore import Replay

        done = self.named("step_completed", step)
        assert done, f"step {step!r} never completed"
        replay = Replay.of(self.events())
        rebuilt = rebuild_loop_outputs(replay.latest, replay.labels).get(step)
        return dict(rebuilt if rebuilt is not None else done[-1].data["outputs"])

    def finished(self) -> AuditEvent:
        events = self.events()
        assert events and events[-1].event == "run_finished", [e.event for e in events[-3:]]
        return events[-1]

    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.dir / "report.json").read_text())
        return data

    def step_report(self, step: str) -> dict[str, Any]:
        for entry in self.report()["steps"]:
            if entry["id"] == step:
                return dict(entry)
        raise AssertionError(f"no step {step!r} in report.json")

    def statuses(self) -> dict[str, str]:
        return {s["id"]: s["status"] for s in self.report()["steps"]}

    def history(self) -> list[dict[str, Any]]:
        """This run's lines of the state dir's history.jsonl."""
        path = self.state / "history.jsonl"
        records = [json.loads(raw) for raw in path.read_text().splitlines() if raw.strip()]
        return [r for r in records if r.get("run_id") == self.run_id]


@dataclass(frozen=True)
class Result(Proc):
    """A finished `run` or `resume`, with the files of its run."""

    files: RunFiles | None = None

    @property
    def run(self) -> RunFiles:
        assert self.files is not None, "no run directory was created\n" + self.explain()
        return self.files


class Workspace:
    """A directory with spec files, a state dir and the flowctl commands a user would type."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = root / ".flowctl"
        self._started: list[subprocess.Popen[str]] = []

    def path(self, name: str) -> Path:
        return self.root / name

    def spec(self, text: str, name: str = "wf.yaml") -> Path:
        path = self.root / name
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    def run_ids(self) -> set[str]:
        runs = self.state / "runs"
        return {p.name for p in runs.iterdir() if p.is_dir()} if runs.is_dir() else set()

    def files(self, run_id: str) -> RunFiles:
        return RunFiles(self.state, run_id)

    def argv(self, command: str, *args: str) -> list[str]:
        argv = [sys.executable, "-m", "flowctl", command, *args, "--state-dir", str(self.state)]
        if command in ("run", "resume"):
            argv.append("--no-progress")
        return argv

    def cli(
        self,
        command: str,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Proc:
        """Any flowctl command, with this workspace's --state-dir (and --no-progress)."""
        argv = self.argv(command, *args)
        done = subprocess.run(
            argv,
            cwd=self.root,
            env=cli_env(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert "Traceback" not in done.stderr, done.stderr
        return Proc(tuple(argv), done.returncode, done.stdout, done.stderr)

    def run(self, spec: Path, *args: str, env: dict[str, str] | None = None) -> Result:
        """`flowctl run SPEC ARGS`; the result knows the run it created (if any)."""
        before = self.run_ids()
        proc = self.cli("run", str(spec), *args, env=env)
        new = self.run_ids() - before
        assert len(new) <= 1, new
        files = self.files(new.pop()) if new else None
        return Result(proc.argv, proc.code, proc.stdout, proc.stderr, files)

    def resume(self, run_id: str, *args: str, env: dict[str, str] | None = None) -> Result:
        before = self.run_ids()
        proc = self.cli("resume", run_id, *args, env=env)
        assert self.run_ids() == before, "resume must continue the run, not make a new one"
        return Result(proc.argv, proc.code, proc.stdout, proc.stderr, self.files(run_id))

    def approve(self, run_id: str, step: str, *args: str, actor: str | None = None) -> Proc:
        """`flowctl approve`; with `actor`, as a GitHub Actions job that actor started."""
        env = {"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": actor} if actor is not None else None
        return self.cli("approve", run_id, step, *args, env=env)

    def start(self, command: str, *args: str, output: bool = True) -> subprocess.Popen[str]:
        """Start a flowctl command in its own session (so a test can signal it or its group)."""
        sink = subprocess.PIPE if output else subprocess.DEVNULL
        proc = subprocess.Popen(
            self.argv(command, *args),
            cwd=self.root,
            env=cli_env(),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
            text=True,
            start_new_session=True,
        )
        self._started.append(proc)
        return proc

    def close(self) -> None:
        """Kill (by process group) whatever a failed test left running, and reap it."""
        for proc in self._started:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()

    def only_run(self) -> RunFiles:
        ids = self.run_ids()
        assert len(ids) == 1, ids
        return self.files(next(iter(ids)))

    def wait_for_event(
        self,
        event: str,
        step: str | None = None,
        *,
        proc: subprocess.Popen[str] | None = None,
        timeout: float = 20.0,
    ) -> None:
        """Wait until the (only) run's journal has `event` (for `step`), while `proc` runs."""

        def seen() -> bool:
            ids = self.run_ids()
            if len(ids) != 1:
                return False
            audit = self.files(next(iter(ids))).audit
            if not audit.exists():
                return False
            return any(
                e.event == event and (step is None or e.step == step)
                for e in read_journal(audit).events
            )

        wait_for(f"{event} {step or ''}".strip(), seen, timeout, proc)


def finish(proc: subprocess.Popen[str], timeout: float = 30.0) -> tuple[int, str, str]:
    """Wait for a started command; kill its whole group if it hangs (and fail)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"flowctl did not exit within {timeout} s\n{out}\n{err}") from None
    assert "Traceback" not in (err or ""), err
    return proc.returncode, out or "", err or ""


def seqs_increase(events: Iterable[AuditEvent]) -> bool:
    seqs = [e.seq for e in events]
    return all(a < b for a, b in itertools.pairwise(seqs))
