"""The audit journal: round trip, crash safety (real kill -9), torn tails, masking."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flowctl.errors import StateError
from flowctl.secrets import SecretMasker
from flowctl.state.audit import AuditEvent, AuditJournal, JournalContents, read_journal

TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditJournal(path, "run-1") as journal:
        first = journal.append("run_started", data={"workflow": "demo", "inputs": {"n": 3}})
        journal.append("step_started", step="loop[2].child", attempt=1)
        journal.checkpoint()
        last = journal.append("step_completed", step="loop[2].child", attempt=1, data={"x": 1})
    contents = read_journal(path)
    assert contents.torn_tail is False
    assert contents.bad_lines == []
    assert [e.seq for e in contents.events] == [1, 2, 3]
    assert contents.events[0] == first
    assert contents.events[2] == last
    assert contents.events[1] == AuditEvent(
        ts=contents.events[1].ts,
        seq=2,
        run_id="run-1",
        event="step_started",
        step="loop[2].child",
        attempt=1,
        data={},
    )
    assert all(TS.fullmatch(e.ts) for e in contents.events)
    assert contents.next_seq == 4


def test_each_line_is_compact_json_with_the_spec_keys_in_order(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditJournal(path, "r", durable=False) as journal:
        journal.append("approval_decided", step="review", data={"by": "zoë", "ok": True})
    line = path.read_text(encoding="utf-8")
    assert line.endswith("}\n") and line.count("\n") == 1
    assert list(json.loads(line)) == ["ts", "seq", "run_id", "event", "step", "attempt", "data"]
    assert line.split('"seq"')[1].startswith(':1,"run_id":"r","event":"approval_decided"')
    assert '"data":{"by":"zoë","ok":true}' in line  # UTF-8, not \u escapes


def test_values_json_cannot_encode_are_written_as_text(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditJournal(path, "r", durable=False) as journal:
        journal.append("x", data={"path": Path("/tmp/a"), "bad": "\udcff", "t": (1, 2)})
    (event,) = read_journal(path).events
    assert event.data == {"path": "/tmp/a", "bad": "\udcff", "t": [1, 2]}


def test_secrets_in_data_keys_and_step_are_masked_in_the_file(tmp_path: Path) -> None:
    secret = "tok-3f9a-SECRET-value"
    path = tmp_path / "audit.jsonl"
    masker = SecretMasker([secret])
    with AuditJournal(path, "r", masker=masker) as journal:
        event = journal.append(
            "step_failed",
            step="call",
            attempt=2,
            data={
                "error": f"401 for https://api/x?token={secret}",
                secret: base64.b64encode(secret.encode()).decode(),
                "nested": [{"header": f"Bearer {secret}"}],
            },
        )
    raw = path.read_text()
    assert secret not in raw
    assert base64.b64encode(secret.encode()).decode() not in raw
    assert event.data == {
        "error": "401 for https://api/x?token=***",
        "***": "***",
        "nested": [{"header": "Bearer ***"}],
    }
    assert read_journal(path).events[0].data == event.data


def test_torn_tail_is_dropped_and_reopening_continues_on_a_new_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditJournal(path, "r") as journal:
        for i in range(3):
            journal.append("step_completed", step=f"s{i}")
    with path.open("ab") as f:
        f.write(b'{"ts":"2026-01-01T00:00:00.000000Z","seq":4,"run_id":"r","ev')
    contents = read_journal(path)
    assert contents == JournalContents(events=contents.events, torn_tail=True, bad_lines=[])
    assert [e.seq for e in contents.events] == [1, 2, 3]

    with AuditJournal(path, "r", next_seq=contents.next_seq) as journal:
        journal.append("run_resumed")
    lines = path.read_bytes().split(b"\n")
    assert lines[3].endswith(b'"ev')  # the fragment kept, never glued to the new event
    after = read_journal(path)
    assert [e.seq for e in after.events] == [1, 2, 3, 4]
    assert after.events[-1].event == "run_resumed"
    assert after.torn_tail is False
    assert after.bad_lines == [4]


def test_a_last_line_that_is_not_json_counts_as_torn(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditJournal(path, "r") as journal:
        journal.append("a")
    with path.open("ab") as f:
        f.write(b'{"ts": "2026\n')
    contents = read_journal(path)
    assert (len(contents.events), contents.torn_tail, contents.bad_lines) == (1, True, [])


def test_garbage_lines_in_the_middle_are_reported_by_number(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    good = '{"ts":"t","seq":%d,"run_id":"r","event":"e","step":null,"attempt":null,"data":{}}'
    path.write_bytes(
        "\n".join(
            [
                good % 1,
                "not json",
                "[1, 2]",
                '{"ts":"t","seq":"2","run_id":"r","event":"e"}',  # seq of the wrong type
                "",
                good % 2,
                '{"ts":"t","seq":3,"run_id":"r","event":"e","future_key":1}',  # newer writer
                "\xff\xfe garbage",
                good % 4,
                "",
            ]
        ).encode("latin-1")
    )
    contents = read_journal(path)
    assert [e.seq for e in contents.events] == [1, 2, 3, 4]
    assert contents.bad_lines == [2, 3, 4, 8]
    assert contents.torn_tail is False


def test_empty_file_is_fine_and_a_missing_one_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "audit.jsonl"
    empty.write_bytes(b"")
    assert read_journal(empty) == JournalContents(events=[], torn_tail=False, bad_lines=[])
    assert read_journal(empty).next_seq == 1
    with pytest.raises(StateError, match=r"^no audit journal at .*missing\.jsonl$"):
        read_journal(tmp_path / "missing.jsonl")


def test_unwritable_location_is_a_state_error(tmp_path: Path) -> None:
    with pytest.raises(StateError, match=r"^cannot open audit journal "):
        AuditJournal(tmp_path / "no-such-dir" / "audit.jsonl", "r")


def test_close_is_idempotent_and_append_after_close_fails(tmp_path: Path) -> None:
    journal = AuditJournal(tmp_path / "audit.jsonl", "r")
    journal.append("a")
    journal.checkpoint()
    assert journal.sync(timeout=5)
    journal.close()
    journal.close()
    journal.checkpoint()  # harmless after close
    with pytest.raises(ValueError, match="closed"):
        journal.append("b")


def test_concurrent_threads_get_unique_seqs_and_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    journal = AuditJournal(path, "r")

    def work(n: int) -> None:
        for i in range(300):
            journal.append("tick", step=f"t{n}", data={"i": i, "pad": "x" * (i % 50)})
            journal.checkpoint()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    journal.close()
    contents = read_journal(path)
    assert contents.bad_lines == [] and not contents.torn_tail
    assert sorted(e.seq for e in contents.events) == list(range(1, 1201))
    assert [e.seq for e in contents.events] == list(range(1, 1201))  # file order = seq order


def test_ten_thousand_checkpointed_events_are_all_written(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    # Group commit's cost is measured by benchmarks/bench_journal.py, not here.
    with AuditJournal(path, "r") as journal:
        for i in range(10_000):
            journal.append("step_completed", step=f"s{i}", attempt=1, data={"i": i})
            journal.checkpoint()
    assert len(read_journal(path).events) == 10_000


WRITER = """
import sys
from pathlib import Path
from flowctl.state.audit import AuditJournal

journal = AuditJournal(Path(sys.argv[1]), "crash-run", next_seq=int(sys.argv[2]))
i = 0
while True:
    journal.append("step_completed", step=f"s{i}", attempt=1, data={"i": i, "pad": "y" * (i % 97)})
    journal.checkpoint()
    i += 1
"""


def _kill_writer_after(path: Path, next_seq: int, lines: int) -> None:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(next_seq)])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if path.exists() and path.read_bytes().count(b"\n") >= lines:
                break
            time.sleep(0.005)
        else:
            pytest.fail("the writer never wrote enough events")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def test_kill_9_in_a_tight_loop_leaves_a_readable_journal_that_resumes(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _kill_writer_after(path, 1, 2_000)
    raw = path.read_bytes()
    first = read_journal(path)
    complete_lines = raw.count(b"\n")
    # Every completed line is kept; at most the last (unfinished) one is dropped.
    assert first.bad_lines == []
    assert len(first.events) == complete_lines
    assert [e.seq for e in first.events] == list(range(1, complete_lines + 1))
    assert first.torn_tail == (not raw.endswith(b"\n"))

    # A resumed run appends to the same journal; kill it again, then read everything.
    _kill_writer_after(path, first.next_seq, complete_lines + 500)
    second = read_journal(path)
    seqs = [e.seq for e in second.events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) >= complete_lines + 499
    assert len(second.bad_lines) == (1 if first.torn_tail else 0)
    assert all(e.run_id == "crash-run" for e in second.events)


def test_close_syncs_after_the_last_line_checkpointed_or_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The background thread leaves the last fsync to close(), which covers every line."""
    calls: list[str] = []
    real_fsync, real_write = os.fsync, os.write

    def fsync(fd: int) -> None:
        calls.append("fsync")
        real_fsync(fd)

    def write(fd: int, data: memoryview) -> int:
        calls.append("write")
        return real_write(fd, data)

    monkeypatch.setattr("flowctl.state.audit.os.fsync", fsync)
    monkeypatch.setattr("flowctl.state.audit.os.write", write)
    journal = AuditJournal(tmp_path / "audit.jsonl", "r")
    journal.append("step_started", step="a", attempt=1)
    journal.checkpoint()
    journal.append("step_completed", step="a", attempt=1)
    journal.checkpoint()
    journal.append("run_finished")  # no checkpoint: close still makes it durable
    journal.close()
    assert calls.count("write") == 3
    assert calls[-1] == "fsync"
    assert len(read_journal(tmp_path / "audit.jsonl").events) == 3
