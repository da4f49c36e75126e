"""One streaming pass over a history file into per-workflow aggregates.

Large files are split into byte ranges read by worker processes (JSON decoding is most of
the cost and it is CPU-bound); each range's aggregates are merged in file order, so the
result is the one a single pass gives (up to the bounded hash maps, see aggregate.KEY_CAP).
A worker is a fresh `python -m flowctl.optimize.scan_worker` process: no fork of a threaded
runner, no re-import of the caller's __main__. If a worker fails, its range is read here.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

from msgspec import Struct, field

from flowctl.errors import HistoryError
from flowctl.optimize.aggregate import WorkflowAggregate
from flowctl.optimize.ingest import normalize_record
from flowctl.state.history import HistoryIssue, HistoryReader
from flowctl.state.records import RecordError

# Below this size one process is faster than starting another interpreter.
PARALLEL_MIN_BYTES = 64 * 1024 * 1024
MAX_WORKERS = 8


class ScanResult(Struct):
    """Aggregates by workflow name, plus every skipped line and run counts of the others."""

    aggregates: dict[str, WorkflowAggregate] = field(default_factory=dict)
    issues: list[HistoryIssue] = field(default_factory=list)
    lines: int = 0
    other_runs: dict[str, int] = field(default_factory=dict)  # workflows filtered out

    def merge(self, later: ScanResult) -> None:
        base = self.lines
        for name, aggregate in later.aggregates.items():
            mine = self.aggregates.get(name)
            if mine is None:
                mine = self.aggregates[name] = WorkflowAggregate(name)
            mine.merge(aggregate, base)
        self.issues.extend(
            HistoryIssue(issue.line + base, issue.message, issue.torn) for issue in later.issues
        )
        for name, runs in later.other_runs.items():
            self.other_runs[name] = self.other_runs.get(name, 0) + runs
        self.lines += later.lines


def scan_history(
    path: Path,
    *,
    workflow: str | None = None,
    workers: int | None = None,
    tail_bytes: int | None = None,
) -> ScanResult:
    """Aggregate every valid record (of `workflow` only, when given) of the file; with
    `tail_bytes`, only the lines that begin in that many last bytes (line numbers then count
    from the first of them)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise HistoryError(f"{path}: no such file") from None
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if tail_bytes is not None and tail_bytes < size:
        return scan_range(path, size - tail_bytes, None, workflow)
    count = workers if workers is not None else _default_workers(size)
    if count <= 1:
        return scan_range(path, 0, None, workflow)
    bounds = [size * i // count for i in range(count)] + [size]
    # Start the helpers on the later ranges first, then read the first range here meanwhile.
    helpers = [_start_worker(path, bounds[i], bounds[i + 1], workflow) for i in range(1, count)]
    try:
        result = scan_range(path, 0, bounds[1], workflow)
        for i, helper in enumerate(helpers, start=1):
            part = _finish_worker(helper)
            if part is None:
                part = scan_range(path, bounds[i], bounds[i + 1], workflow)
            result.merge(part)
    finally:
        for helper in helpers:
            if helper.poll() is None:
                helper.kill()
                helper.wait()
    return result


def scan_range(path: Path, start: int, end: int | None, workflow: str | None) -> ScanResult:
    """Aggregate the lines that begin in [start, end); line numbers are relative to start."""
    result = ScanResult()
    reader = HistoryReader(path, result.issues, start=start, end=end)
    aggregates = result.aggregates
    others = result.other_runs
    for line, offset, data in reader:
        try:
            record = normalize_record(data)
        except RecordError as exc:
            result.issues.append(HistoryIssue(line, str(exc)))
            continue
        name = record.run["workflow"]
        if workflow is not None and name != workflow:
            others[name] = others.get(name, 0) + 1
            continue
        aggregate = aggregates.get(name)
        if aggregate is None:
            aggregate = aggregates[name] = WorkflowAggregate(name)
        aggregate.add(record, line, offset)
    result.lines = reader.lines
    return result


def _default_workers(size: int) -> int:
    if size < PARALLEL_MIN_BYTES:
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cpus or 1, MAX_WORKERS, size // PARALLEL_MIN_BYTES))


def _start_worker(
    path: Path, start: int, end: int, workflow: str | None
) -> subprocess.Popen[bytes]:
    request = json.dumps({"path": str(path), "start": start, "end": end, "workflow": workflow})
    # The worker must import this very flowctl, wherever it was imported from.
    root = str(Path(__file__).resolve().parents[2])
    search = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": root if not search else os.pathsep.join([root, search])}
    return subprocess.Popen(
        [sys.executable, "-m", "flowctl.optimize.scan_worker", request],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )


def _finish_worker(process: subprocess.Popen[bytes]) -> ScanResult | None:
    out, _ = process.communicate()
    if process.returncode != 0:
        return None
    # The payload comes from a child this process started on its own code, never from
    # outside input, so unpickling it is safe.
    result = pickle.loads(out)  # noqa: S301
    return result if isinstance(result, ScanResult) else None
