"""Per-workflow accumulators of run history, built in one streaming pass, mergeable in order.

Memory per run is a few compact array slots (8-byte durations, 4-byte indices) and per step
execution 12 bytes; no record is kept. Maps keyed by input hashes (caching and next-run
flakiness) are bounded by KEY_CAP entries per step: past that, new inputs are not tracked.
Aggregates of consecutive byte ranges of one file merge into the aggregate of the whole.
"""

from __future__ import annotations

import re
from array import array
from operator import itemgetter
from typing import Any

from flowctl.optimize.ingest import STEP_FIELDS, Normalized

# The distinct input hashes remembered per step (about 0.2 KB each).
KEY_CAP = 5000
# Distinct step names kept per workflow; a file naming more is not a real workflow's.
MAX_STEPS = 10_000

# Statuses of steps that ran (their duration is real execution time).
_RAN = frozenset({"completed", "failed", "rolled_back"})

# Run status -> a one-byte code for the per-run column; unknown statuses share OTHER.
RUN_STATUSES = (
    "completed",
    "failed",
    "timeout",
    "cancelled",
    "waiting_approval",
    "running",
    "rollback",
    "other",
)
_STATUS_CODE = {name: code for code, name in enumerate(RUN_STATUSES)}
_OTHER = _STATUS_CODE["other"]

# Entry of StepAggregate.keys: first outputs hash, completed executions, same outputs
# every time, first execution failed, latest execution failed.
_OUT, _COUNT, _SAME, _FIRST_FAILED, _LAST_FAILED = range(5)

# Bits of StepAggregate.flags.
FAILED, CACHED, RETRIED = 1, 2, 4

_PARENT = STEP_FIELDS.index("parent")
_QUEUED = STEP_FIELDS.index("queued")
# The fields StepAggregate.add reads, by name; one C-level call per step of every run.
_USED_BY_ADD = itemgetter(
    *(
        STEP_FIELDS.index(name)
        for name in (
            "status",
            "duration",
            "queued",
            "attempts",
            "cached",
            "error_kind",
            "timeout",
            "max_attempts",
            "inputs_sha256",
            "outputs_sha256",
            "up_to_date",
            "retry_wait",
        )
    )
)
UNKNOWN_SPEC = 65535  # spec index past the interning limit

_INDEX = re.compile(r"\[\d+\]")
_NAMES: dict[str, str] = {}


def normalize_step_id(step_id: str) -> str:
    """Loop iterations share one name: `scan[3].ocr` -> `scan[*].ocr`."""
    name = _NAMES.get(step_id)
    if name is None:
        name = _INDEX.sub("[*]", step_id) if "[" in step_id else step_id
        if len(_NAMES) < 100_000:
            _NAMES[step_id] = name
    return name


class StepAggregate:
    """Everything the analysis needs about one step across runs."""

    __slots__ = (
        "cache_hits",
        "durations",
        "error_kinds",
        "failures",
        "flags",
        "healed_next",
        "keys",
        "last_run",
        "max_attempts",
        "not_run",
        "parent",
        "queued_count",
        "queued_seconds",
        "retried_failed",
        "retried_failed_attempts",
        "retried_failed_seconds",
        "retried_failed_wait",
        "retried_passed",
        "retried_passed_seconds",
        "retries",
        "retry_wait_seconds",
        "runs",
        "skipped",
        "timeout",
        "timeouts",
        "type",
        "untracked",
        "up_to_date",
        "with_hashes",
    )

    def __init__(self, step_type: str, parent: str | None) -> None:
        self.type = step_type
        self.parent = parent
        self.durations = array("d")  # seconds of each execution, in run order
        self.runs = array("I")  # the run index of each execution
        self.flags = array("B")  # FAILED | CACHED | RETRIED bits of each execution
        self.last_run = 0  # index of the latest run that listed the step
        self.skipped = 0
        self.not_run = 0  # pending, cancelled, waiting: reached but never finished
        self.failures = 0
        self.retries = 0  # attempts beyond the first, summed
        self.cache_hits = 0
        self.up_to_date = 0  # executions skipped because their files were unchanged
        self.timeouts = 0  # failures whose error_kind is "timeout"
        self.retried_passed = 0
        self.retried_passed_seconds = 0.0
        self.retried_failed = 0
        self.retried_failed_seconds = 0.0
        self.retried_failed_attempts = 0
        self.retried_failed_wait = 0.0  # seconds between attempts in those executions
        # Seconds between attempts (backoff, waiting for a slot again), inside the durations:
        # the replay holds no slot for them.
        self.retry_wait_seconds = 0.0
        self.queued_seconds = 0.0
        self.queued_count = 0
        self.max_attempts = 1  # as configured in the latest run
        self.timeout: float | None = None  # as configured in the latest run
        self.error_kinds: dict[str, int] = {}
        self.keys: dict[str, list[Any]] = {}
        self.healed_next = 0  # failures followed by a pass on the next run with same inputs
        self.with_hashes = 0  # completed executions that recorded inputs and outputs hashes
        self.untracked = 0

    @property
    def executions(self) -> int:
        return len(self.durations)

    def add(self, values: tuple[Any, ...], run_index: int, run_inputs: str | None) -> None:
        """Account one step's values (ingest.STEP_FIELDS order, already validated)."""
        (
            status,
            duration,
            queued,
            attempts,
            cached,
            kind,
            timeout,
            max_attempts,
            step_inputs,
            step_outputs,
            up_to_date,
            retry_wait,
        ) = _USED_BY_ADD(values)
        self.last_run = run_index
        if status not in _RAN:
            if status == "skipped":
                self.skipped += 1
            else:
                self.not_run += 1
            return
        if up_to_date:
            # Not run (its files had not changed): its near-zero time says nothing of what
            # the step costs when it does run, so it is no sample at all.
            self.up_to_date += 1
            return
        duration = duration or 0.0
        self.durations.append(duration)
        self.runs.append(run_index)
        self.max_attempts = max_attempts or 1
        if timeout is not None:
            self.timeout = timeout
        if cached:
            self.cache_hits += 1
            self.flags.append(CACHED)
            return
        failed = status == "failed"
        self.flags.append(
            (FAILED if failed else 0) | (RETRIED if attempts is not None and attempts > 1 else 0)
        )
        if failed:
            self.failures += 1
            kind = kind or "error"
            if kind == "timeout":
                self.timeouts += 1
            kinds = self.error_kinds
            if kind in kinds:
                kinds[kind] += 1
            elif len(kinds) < 32:
                kinds[kind] = 1
        if attempts and attempts > 1:
            self.retries += attempts - 1
            retry_wait = min(retry_wait or 0.0, duration)
            self.retry_wait_seconds += retry_wait
            if failed:
                self.retried_failed += 1
                self.retried_failed_seconds += duration
                self.retried_failed_wait += retry_wait
                self.retried_failed_attempts += attempts
            else:
                self.retried_passed += 1
                self.retried_passed_seconds += duration
        if queued:
            self.queued_seconds += queued
            self.queued_count += 1
        key = step_inputs or run_inputs
        if key is None:
            return
        outputs = None if failed or not step_inputs else step_outputs
        if outputs is not None:
            self.with_hashes += 1
        entry = self.keys.get(key)
        if entry is None:
            if len(self.keys) < KEY_CAP:
                self.keys[key] = [outputs, 0 if outputs is None else 1, True, failed, failed]
            else:
                self.untracked += 1
            return
        # Literal indices (see _OUT.._LAST_FAILED): this runs for every step of every run.
        if entry[4] and not failed:
            self.healed_next += 1
        entry[4] = failed
        if outputs is not None:
            if entry[0] is None:
                entry[0] = outputs
            elif outputs != entry[0]:
                entry[2] = False
            entry[1] += 1

    def wait_share(self) -> float:
        """The share of the recorded durations spent between attempts (0 to 1)."""
        total = sum(self.durations)
        return min(1.0, self.retry_wait_seconds / total) if total > 0 else 0.0

    def cache_repeats(self) -> tuple[int, int]:
        """(executions whose inputs were seen before with the same outputs, inconsistent inputs)."""
        repeats = 0
        inconsistent = 0
        for entry in self.keys.values():
            if not entry[_SAME]:
                inconsistent += 1
            elif entry[_COUNT] > 1:
                repeats += entry[_COUNT] - 1
        return repeats, inconsistent

    def merge(self, later: StepAggregate, run_base: int) -> None:
        """Fold in the aggregate of the byte range that follows this one in the file."""
        self.type = later.type
        self.parent = later.parent
        self.durations.extend(later.durations)
        self.runs.extend(array("I", (i + run_base for i in later.runs)))
        self.flags.extend(later.flags)
        self.last_run = later.last_run + run_base
        for name in (
            "skipped",
            "not_run",
            "failures",
            "retries",
            "cache_hits",
            "timeouts",
            "retried_passed",
            "retried_passed_seconds",
            "retried_failed",
            "retried_failed_seconds",
            "retried_failed_attempts",
            "retried_failed_wait",
            "retry_wait_seconds",
            "queued_seconds",
            "queued_count",
            "healed_next",
            "with_hashes",
            "untracked",
        ):
            setattr(self, name, getattr(self, name) + getattr(later, name))
        if later.executions:
            self.max_attempts = later.max_attempts
        if later.timeout is not None:
            self.timeout = later.timeout
        for kind, count in later.error_kinds.items():
            if kind in self.error_kinds or len(self.error_kinds) < 32:
                self.error_kinds[kind] = self.error_kinds.get(kind, 0) + count
        for key, entry in later.keys.items():
            mine = self.keys.get(key)
            if mine is None:
                if len(self.keys) < KEY_CAP:
                    self.keys[key] = entry
                else:
                    self.untracked += 1
                continue
            if mine[_LAST_FAILED] and not entry[_FIRST_FAILED]:
                self.healed_next += 1
            mine[_LAST_FAILED] = entry[_LAST_FAILED]
            if entry[_OUT] is None:
                continue
            if mine[_OUT] is None:
                mine[_OUT], mine[_COUNT], mine[_SAME] = entry[_OUT], entry[_COUNT], entry[_SAME]
            else:
                mine[_SAME] = mine[_SAME] and entry[_SAME] and mine[_OUT] == entry[_OUT]
                mine[_COUNT] += entry[_COUNT]


class WorkflowAggregate:
    """The runs of one workflow: per-run columns and per-step aggregates."""

    __slots__ = (
        "capacity",
        "dropped_steps",
        "durations",
        "first_started",
        "last_started",
        "lines",
        "max_parallel",
        "name",
        "offsets",
        "queued",
        "sla_targets",
        "spec_index",
        "spec_versions",
        "specs",
        "statuses",
        "steps",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.durations = array("d")
        self.statuses = array("B")
        # Byte offset of each run's line: a run's id and edges are read again when needed,
        # so nothing per run is kept but numbers.
        self.offsets = array("q")
        self.lines = array("I")  # line number of each run
        self.queued = array("d")  # seconds the run's steps spent queued for a slot
        self.specs = array("H")  # index into spec_versions (or UNKNOWN_SPEC)
        self.spec_versions: list[tuple[str | None, str | None]] = []
        self.spec_index: dict[tuple[str | None, str | None], int] = {}
        self.steps: dict[str, StepAggregate] = {}
        self.max_parallel: int | None = None  # of the latest run that recorded it
        # Steps the latest run's executor could run at once (a Dask cluster's threads);
        # None: the local executor, whose limit is max_parallel_steps alone.
        self.capacity: int | None = None
        self.sla_targets: dict[str, float] | None = None  # likewise
        self.first_started: str | None = None
        self.last_started: str | None = None
        self.dropped_steps = 0  # executions of step names past MAX_STEPS

    @property
    def runs(self) -> int:
        return len(self.durations)

    def add(self, record: Normalized, line: int, offset: int) -> None:
        """Account one validated record (see ingest.normalize_record)."""
        run = record.run
        index = len(self.durations)
        self.durations.append(run["duration"])
        self.statuses.append(_STATUS_CODE.get(run["status"], _OTHER))
        self.offsets.append(offset)
        self.lines.append(line)
        spec = (run.get("workflow_version"), run.get("spec_sha256"))
        spec_id = self.spec_index.get(spec)
        if spec_id is None:
            spec_id = self._intern_spec(spec)
        self.specs.append(spec_id)
        started = run["started_at"]
        if self.first_started is None:
            self.first_started = started
        self.last_started = started
        limit = run.get("max_parallel_steps")
        if limit is not None and limit >= 1:
            self.max_parallel = limit
        capacity = run.get("executor_capacity")
        self.capacity = capacity if capacity is not None and capacity >= 1 else None
        sla = run.get("sla_targets")
        if sla is not None:
            self.sla_targets = {str(k): float(v) for k, v in sla.items() if type(v) in (int, float)}
        run_inputs = run.get("inputs_sha256")
        steps = self.steps
        queued = 0.0
        names = _NAMES
        for values in record.steps:
            name = names.get(values[0]) or normalize_step_id(values[0])
            aggregate = steps.get(name)
            if aggregate is None:
                if len(steps) >= MAX_STEPS:
                    self.dropped_steps += 1
                    continue
                parent = values[_PARENT]
                aggregate = steps[name] = StepAggregate(
                    values[1] or "action",
                    None if parent is None else normalize_step_id(parent),
                )
            aggregate.add(values, index, run_inputs)
            queued += values[_QUEUED] or 0.0
        self.queued.append(queued)

    def _intern_spec(self, spec: tuple[str | None, str | None]) -> int:
        """The index of a (version, sha256) pair; UNKNOWN_SPEC once 65535 are known."""
        spec_id = self.spec_index.get(spec)
        if spec_id is None:
            if len(self.spec_versions) >= UNKNOWN_SPEC:
                return UNKNOWN_SPEC
            spec_id = self.spec_index[spec] = len(self.spec_versions)
            self.spec_versions.append(spec)
        return spec_id

    def merge(self, later: WorkflowAggregate, line_base: int) -> None:
        """Fold in the aggregate of the next byte range; its line numbers start at line_base+1."""
        base = self.runs
        self.durations.extend(later.durations)
        self.statuses.extend(later.statuses)
        self.offsets.extend(later.offsets)
        self.lines.extend(array("I", (n + line_base for n in later.lines)))
        self.queued.extend(later.queued)
        remap = [self._intern_spec(spec) for spec in later.spec_versions]
        self.specs.extend(
            array("H", (UNKNOWN_SPEC if i >= len(remap) else remap[i] for i in later.specs))
        )
        self.dropped_steps += later.dropped_steps
        for name, step in later.steps.items():
            mine = self.steps.get(name)
            if mine is None:
                if len(self.steps) >= MAX_STEPS:
                    self.dropped_steps += step.executions + step.skipped + step.not_run
                    continue
                step.runs = array("I", (i + base for i in step.runs))
                step.last_run += base
                self.steps[name] = step
            else:
                mine.merge(step, base)
        if later.max_parallel is not None:
            self.max_parallel = later.max_parallel
        if later.runs:
            self.capacity = later.capacity
        if later.sla_targets is not None:
            self.sla_targets = later.sla_targets
        if self.first_started is None:
            self.first_started = later.first_started
        if later.last_started is not None:
            self.last_started = later.last_started
