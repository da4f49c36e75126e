"""regression: a step's recent p50/p95 drifting up against its earlier runs."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from flowctl.optimize.aggregate import WorkflowAggregate
from flowctl.optimize.model import Change
from flowctl.optimize.report import Level, Recommendation, RecommendationType
from flowctl.optimize.rules.base import Context, evidence, investigate, percent, seconds
from flowctl.optimize.stats import quantile
from flowctl.state.history import read_record_at

MIN_SAMPLES = 12  # clean executions (passed at once, not cached)
MIN_RISE = 0.2  # recent p50 at least 20% above the earlier p50 ...
MIN_SECONDS = 0.05  # ... and at least this many seconds above it
MIN_ABOVE = 0.5  # share of recent executions slower than the earlier p75
MAX_WINDOW = 100
SNAP = 3  # executions around the change point searched for a change of workflow version


def regression(ctx: Context) -> Iterator[Recommendation]:
    aggregate = ctx.aggregate
    for view in ctx.steps.values():
        durations, runs = view.clean()
        n = len(durations)
        if n < MIN_SAMPLES:
            continue
        window = max(4, min(n // 4, MAX_WINDOW))
        recent_raw = durations[n - window :]
        recent = sorted(recent_raw)
        earlier = _without(view.clean_sorted(), recent)
        p50_before, p50_after = quantile(earlier, 0.5), quantile(recent, 0.5)
        if p50_after < p50_before * (1 + MIN_RISE) or p50_after - p50_before < MIN_SECONDS:
            continue
        p75_before = quantile(earlier, 0.75)
        above = sum(1 for x in recent_raw if x > p75_before) / window
        if above < MIN_ABOVE:
            continue
        p95_before, p95_after = quantile(earlier, 0.95), quantile(recent, 0.95)
        first = change_point(durations, max(0, n - 4 * window))
        # A new workflow version a few runs from the statistical change point is the
        # likelier start: noise moves the change point by a run or two.
        changes = [
            j
            for j in range(max(1, first - SNAP), min(n, first + SNAP + 1))
            if aggregate.specs[runs[j]] != aggregate.specs[runs[j - 1]]
        ]
        if changes:
            first = min(changes, key=lambda j: (abs(j - first), j))
        spec_changed = bool(changes)
        began = runs[first]
        run_id = read_record_at(ctx.path, aggregate.offsets[began]).run_id
        now = ctx.model.with_durations({view.name: p50_after})
        change = Change(durations={view.name: p50_before})
        reverted = ctx.model.makespan(change)
        gain = 100.0 * (now - reverted) / now if now > 0 else 0.0
        version = ""
        if spec_changed:
            old = _version(aggregate, runs[first - 1])
            new = _version(aggregate, began)
            version = f" The workflow changed at that run (version {old} -> {new})."
        yield Recommendation(
            id=f"regression:{view.file_id}",
            type=RecommendationType.REGRESSION,
            description=(
                f"Step '{view.file_id}' got slower: p50 {seconds(p50_before)} -> "
                f"{seconds(p50_after)}, p95 {seconds(p95_before)} -> {seconds(p95_after)} "
                f"over its last {window} runs ({percent(above)} of them slower than its "
                f"earlier p75); it began with run {run_id}.{version}"
            ),
            expected_improvement=max(0.0, gain),
            implementation_effort=Level.MEDIUM,
            risk_level=Level.LOW,
            specific_changes=(
                investigate(
                    view,
                    "duration",
                    {
                        "since_run": run_id,
                        "p50_before": round(p50_before, 6),
                        "p50_after": round(p50_after, 6),
                        "spec_changed": spec_changed,
                    },
                ),
            ),
            steps=(view.file_id,),
            evidence=evidence(
                since_run=run_id,
                window=window,
                p50_before=p50_before,
                p50_after=p50_after,
                p95_before=p95_before,
                p95_after=p95_after,
                share_above_p75=above,
                spec_changed=spec_changed,
            ),
            change=change,
        )


def _version(aggregate: WorkflowAggregate, run: int) -> str:
    """The workflow version a run recorded (or its spec hash, shortened)."""
    index = aggregate.specs[run]
    if index >= len(aggregate.spec_versions):
        return "unknown"
    version, sha = aggregate.spec_versions[index]
    return version or (f"sha256 {sha[:12]}" if sha else "unknown")


def _without(ordered: Sequence[float], removed: Sequence[float]) -> list[float]:
    """`ordered` minus one occurrence of each value in `removed` (both sorted)."""
    rest = list(ordered)
    for value in reversed(removed):
        del rest[bisect_left(rest, value)]
    return rest


def change_point(values: Sequence[float], start: int) -> int:
    """Index in `values` (searched from `start`) where a single upward mean shift begins.

    Least squares: the split that leaves the smallest squared error around two means,
    each side at least two values long; `start` itself when nothing better is found.
    """
    tail = values[start:]
    m = len(tail)
    if m < 4:
        return start
    total = sum(tail)
    best, best_k = -1.0, 0
    left = tail[0]
    for k in range(1, m - 1):
        left_sum = left
        left += tail[k]
        if k < 2:
            continue
        right_sum = total - left_sum
        if right_sum / (m - k) <= left_sum / k:
            continue  # only an upward shift is a regression
        score = left_sum * left_sum / k + right_sum * right_sum / (m - k)
        if score > best:
            best, best_k = score, k
    return start + best_k
