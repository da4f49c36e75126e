"""analyze_history: one pass over the history, then statistics, replay model and advice."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import reduce
from pathlib import Path

from msgspec import Struct
from msgspec.structs import replace

from flowctl.errors import HistoryError, UsageError
from flowctl.optimize.aggregate import (
    MAX_STEPS,
    RUN_STATUSES,
    StepAggregate,
    WorkflowAggregate,
)
from flowctl.optimize.aggregate import normalize_step_id as _norm
from flowctl.optimize.dataflow import DataFlow
from flowctl.optimize.model import Change, DagModel, Level
from flowctl.optimize.replay import ReplayError, critical_path, find_cycle
from flowctl.optimize.report import (
    CriticalPathReport,
    HistorySource,
    OptimizationReport,
    PathStep,
    RunSummary,
    Score,
    StepStats,
)
from flowctl.optimize.rules import recommend
from flowctl.optimize.rules.base import Context, Samples, Sla, StepView
from flowctl.optimize.scan import ScanResult, scan_history
from flowctl.optimize.stats import mean_and_stdev, quantile, summarize
from flowctl.spec.model import DEFAULT_MAX_PARALLEL_STEPS, LoopStep, Step, StepType, Workflow
from flowctl.state.history import read_record_at
from flowctl.state.records import RunRecord

# A step varying more than this (stdev / mean) is a bottleneck ...
BOTTLENECK_CV = 0.5
# ... unless its mean is under this share of the median makespan (noise, not a bottleneck).
BOTTLENECK_MIN_SHARE = 0.01
# Earlier runs tried, newest first, when the latest one's recorded edges are unusable.
_DAG_CANDIDATES = 10


def analyze_history(
    path: Path,
    *,
    workflow: str | None = None,
    spec: Workflow | None = None,
    top: int = 5,
    workers: int | None = None,
    tail_bytes: int | None = None,
) -> OptimizationReport:
    """Analyse one workflow's runs in a history file.

    The workflow is `workflow`, else the spec's name, else the one with the most runs in the
    file (the report lists the others). `spec` enables data-flow advice and supplies the
    configuration records do not carry. Raises HistoryError (exit 2) when the file is
    missing or holds no usable run of the workflow. `tail_bytes` limits the analysis to
    the runs recorded in the file's last bytes (the end-of-run analysis of a large history).
    """
    if top < 0:
        raise UsageError(f"--top must be 0 or more, not {top}")
    target = workflow if workflow is not None else (spec.name if spec is not None else None)
    scan = scan_history(path, workflow=target, workers=workers, tail_bytes=tail_bytes)
    aggregate = _pick(path, scan, target)
    others = dict(scan.other_runs)
    others.update({n: a.runs for n, a in scan.aggregates.items() if n != aggregate.name})
    return _Analysis(path, scan, aggregate, spec, dict(sorted(others.items()))).report(top)


def _pick(path: Path, scan: ScanResult, target: str | None) -> WorkflowAggregate:
    bad = [i for i in scan.issues if not i.torn]
    trouble = ""
    if bad:
        trouble = f" ({len(bad)} malformed lines; line {bad[0].line}: {bad[0].message})"
    if target is not None:
        found = scan.aggregates.get(target)
        if found is not None and found.runs:
            return found
        names = sorted(scan.other_runs)
        listed = f"; it has runs of {', '.join(names)}" if names else ""
        raise HistoryError(f"{path}: no runs of workflow '{target}'{listed}{trouble}")
    if not scan.aggregates:
        raise HistoryError(f"{path}: no usable run records{trouble}")
    return min(scan.aggregates.values(), key=lambda a: (-a.runs, a.name))


class _Node(Struct, frozen=True):
    name: str
    parent: str | None
    spec: Step | None


class _Analysis:
    def __init__(
        self,
        path: Path,
        scan: ScanResult,
        aggregate: WorkflowAggregate,
        spec: Workflow | None,
        others: dict[str, int],
    ) -> None:
        self.path = path
        self.scan = scan
        self.agg = aggregate
        self.spec = spec
        self.others = others
        self.notes: list[str] = []

    def report(self, top: int) -> OptimizationReport:
        agg = self.agg
        if self.others:
            self.notes.append(
                f"the history holds {len(self.others) + 1} workflows; this report is about "
                f"'{agg.name}' ({agg.runs} runs): use --workflow NAME for another"
            )
        nodes, edges = self._structure()
        limit = self._max_parallel()
        views = self._views(nodes)
        model = self._model(nodes, edges, views, limit)
        codes = Counter(agg.statuses)
        counts = {RUN_STATUSES[c]: n for c, n in sorted(codes.items())}
        runs = agg.runs
        success = counts.get("completed", 0) / runs
        errors = (counts.get("failed", 0) + counts.get("timeout", 0)) / runs
        done = sorted(d for d, c in zip(agg.durations, agg.statuses, strict=True) if c == 0)
        duration_of = "completed"
        if not done:
            done, duration_of = sorted(agg.durations), "all"
        path_report = self._critical_path()
        on_path = {s.id for s in path_report.steps} if path_report else set()
        views = self._with_bottlenecks(views, model.baseline, on_path)
        ctx = Context(
            workflow=agg.name,
            path=self.path,
            aggregate=agg,
            steps=views,
            model=model,
            spec=self.spec,
            dataflow=DataFlow(self.spec) if self.spec is not None else None,
            max_parallel=limit,
            success_rate=success,
            completed_durations=done if duration_of == "completed" else [],
            sla=self._sla(),
        )
        from flowctl.optimize.agentstats import load_agent_history

        ctx.agents = load_agent_history(self.path, agg.offsets)
        found = recommend(ctx)
        speedups = [r.change for r in found if r.change is not None]
        combined = reduce(Change.combine, speedups, Change())
        efficiency = 1 - model.improvement(combined) / 100 if speedups else 1.0
        mean, stdev = mean_and_stdev(done)
        score = Score(
            reliability=success,
            efficiency=efficiency,
            consistency=1 / (1 + stdev / mean) if mean > 0 else 1.0,
        )
        summary = RunSummary(
            runs=runs,
            status_counts=counts,
            success_rate=success,
            error_rate=errors,
            duration=summarize(done, is_sorted=True),
            duration_of=duration_of,
            median_makespan=model.baseline,
            max_parallel_steps=limit,
            score=score,
        )
        return OptimizationReport(
            workflow=agg.name,
            generated_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            history=self._source(),
            summary=summary,
            steps=tuple(v.stats for v in views.values()),
            critical_path=path_report,
            recommendations=tuple(r.rendered() for r in found[:top]),
            recommendations_total=len(found),
            notes=tuple(self.notes) + self._data_notes(views),
            agents=tuple(
                s.to_json() for s in (ctx.agents.stats.values() if ctx.agents is not None else ())
            ),
        )

    # -- the workflow's structure ------------------------------------------------------------

    def _structure(self) -> tuple[list[_Node], set[tuple[str, str]]]:
        """The current steps (history names, in order) and the dependency edges between them."""
        if self.spec is not None:
            return self._spec_structure(self.spec)
        agg = self.agg
        latest = agg.specs[-1]
        current = {name for name, step in agg.steps.items() if agg.specs[step.last_run] == latest}
        order: list[str] = []
        edges: set[tuple[str, str]] = set()
        record = self._dag_record(current)
        if record is not None:
            order = list(dict.fromkeys(_norm(s.id) for s in record.steps if _norm(s.id) in current))
            edges = _edges(record, current)
        order += sorted(current.difference(order))
        nodes = [_Node(n, agg.steps[n].parent, None) for n in order]
        known = set(order)
        # A parent that is not a current step (a renamed container) leaves its children on top.
        nodes = [n if n.parent in known else _Node(n.name, None, None) for n in nodes]
        return nodes, edges

    def _dag_record(self, current: set[str]) -> RunRecord | None:
        """The newest run whose recorded edges form a DAG (tried back a few runs)."""
        agg = self.agg
        for index in range(agg.runs - 1, max(-1, agg.runs - 1 - _DAG_CANDIDATES), -1):
            record = read_record_at(self.path, agg.offsets[index])
            edges = _edges(record, current)
            cycle = find_cycle(sorted(current), sorted(edges))
            if cycle is None:
                return record
            self.notes.append(
                f"{self.path}:{agg.lines[index]}: run {record.run_id}: its recorded edges "
                f"form a cycle ({' -> '.join(cycle)}); the replay uses an earlier run's"
            )
        self.notes.append("no recent run recorded a usable DAG: the replay ignores dependencies")
        return None

    def _spec_structure(self, spec: Workflow) -> tuple[list[_Node], set[tuple[str, str]]]:
        nodes: list[_Node] = []
        edges: set[tuple[str, str]] = set()

        def visit(steps: Iterable[Step], prefix: str, parent: str | None) -> None:
            for step in steps:
                name = prefix + step.id
                nodes.append(_Node(name, parent, step))
                edges.update((prefix + dep, name) for dep in step.dependencies)
                if isinstance(step, LoopStep):
                    visit(step.steps, f"{name}[*].", name)
                else:
                    visit(step.children(), prefix, name)

        visit(spec.steps, "", None)
        latest = self.agg.spec_versions[self.agg.specs[-1]] if self.agg.spec_versions else None
        if latest is not None and latest[1] is not None and latest[1] != spec.sha256:
            self.notes.append(
                f"{spec.source} is not the file the latest run used (its sha256 differs): "
                "the advice is for the file as it is now"
            )
        return nodes, edges

    def _max_parallel(self) -> int:
        if self.spec is not None:
            return self.spec.max_parallel_steps
        if self.agg.max_parallel is not None:
            return self.agg.max_parallel
        self.notes.append(
            f"no run recorded max_parallel_steps: the replay assumes {DEFAULT_MAX_PARALLEL_STEPS}"
        )
        return DEFAULT_MAX_PARALLEL_STEPS

    def _sla(self) -> Sla:
        if self.spec is not None:
            targets = self.spec.sla_targets
            if targets is None:
                return Sla()
            return Sla(targets.max_execution_time, targets.min_success_rate)
        recorded = self.agg.sla_targets or {}
        return Sla(recorded.get("max_execution_time"), recorded.get("min_success_rate"))

    # -- per step ----------------------------------------------------------------------------

    def _views(self, nodes: list[_Node]) -> dict[str, StepView]:
        views: dict[str, StepView] = {}
        for node in nodes:
            agg = self.agg.steps.get(node.name)
            if agg is None:
                kind = node.spec.type.value if node.spec is not None else "action"
                agg = StepAggregate(kind, node.parent)
            samples = Samples.of(agg)
            ordered = samples.ordered
            real = agg.executions - agg.cache_hits
            stats = StepStats(
                id=node.name,
                type=node.spec.type.value if node.spec is not None else agg.type,
                parent=node.parent,
                duration=summarize(ordered, is_sorted=True),
                replay_duration=quantile(ordered, 0.5, zeros=agg.skipped),
                skipped=agg.skipped,
                failures=agg.failures,
                retries=agg.retries,
                cache_hits=agg.cache_hits,
                timeouts=agg.timeouts,
                queued_avg=agg.queued_seconds / agg.executions if agg.executions else 0.0,
                flakiness=(agg.retried_passed + agg.healed_next) / real if real > 0 else 0.0,
            )
            views[node.name] = StepView(node.name, agg, stats, samples, node.spec)
        return views

    def _model(
        self,
        nodes: list[_Node],
        edges: set[tuple[str, str]],
        views: Mapping[str, StepView],
        limit: int,
    ) -> DagModel:
        parent = {n.name: n.parent for n in nodes}
        members: dict[str | None, list[str]] = {None: []}
        for node in nodes:
            members.setdefault(node.parent, []).append(node.name)
        levels: dict[str | None, Level] = {}
        for key, names in members.items():
            inside = set(names)
            level_edges = frozenset(
                (a, b) for a, b in edges if a in inside and b in inside and parent[a] == key
            )
            if key is None:
                levels[None] = Level(None, tuple(names), level_edges, limit)
                continue
            container = views[key]
            step = container.spec
            if container.type == StepType.LOOP.value:
                runs = max(1, container.aggregate.executions)
                reached = max(
                    (views[n].aggregate.executions + views[n].aggregate.skipped for n in names),
                    default=0,
                )
                iterations = round(reached / runs)
                # Without the spec a loop's max_concurrency is unknown: its default, 1.
                concurrency = step.max_concurrency if isinstance(step, LoopStep) else 1
                levels[key] = Level(
                    key,
                    tuple(names),
                    level_edges,
                    None,
                    kind="loop",
                    iterations=iterations,
                    concurrency=concurrency,
                )
            else:
                inner = getattr(step, "max_concurrency", None)
                levels[key] = Level(
                    key, tuple(names), level_edges, None, kind="parallel", concurrency=inner
                )
        durations: dict[str, float] = {}
        waits: dict[str, float] = {}
        for name, view in views.items():
            total = view.stats.replay_duration
            share = view.aggregate.wait_share()
            # A retry's wait between attempts holds no slot: replayed apart from the work.
            durations[name] = total * (1.0 - share)
            if share > 0:
                waits[name] = total * share
        try:
            return DagModel(levels, durations, waits)
        except ReplayError as exc:
            raise HistoryError(
                f"{self.path}: cannot replay workflow '{self.agg.name}': {exc}"
            ) from None

    def _with_bottlenecks(
        self, views: dict[str, StepView], baseline: float, on_path: set[str]
    ) -> dict[str, StepView]:
        ran = [v for v in views.values() if v.stats.duration.count]
        means = [v.stats.duration.mean for v in ran]
        center, spread = mean_and_stdev(means)
        threshold = center + spread if len(means) > 1 else math.inf
        floor = BOTTLENECK_MIN_SHARE * baseline
        result: dict[str, StepView] = {}
        for name, view in views.items():
            summary = view.stats.duration
            reasons: list[str] = []
            if summary.count and summary.mean > threshold:
                reasons.append("slow")
            if summary.count > 1 and summary.cv > BOTTLENECK_CV and summary.mean >= floor:
                reasons.append("variable")
            stats = _replace_stats(view.stats, tuple(reasons), name in on_path)
            result[name] = StepView(name, view.aggregate, stats, view.samples, view.spec)
        return result

    # -- runs --------------------------------------------------------------------------------

    def _critical_path(self) -> CriticalPathReport | None:
        """The longest path of the median completed run (of all runs, if none completed)."""
        agg = self.agg
        indices = [i for i, c in enumerate(agg.statuses) if c == 0] or list(range(agg.runs))
        indices.sort(key=agg.durations.__getitem__)  # stable: equal durations keep run order
        index = indices[(len(indices) - 1) // 2]
        record = read_record_at(self.path, agg.offsets[index])
        top = {s.id: s for s in record.steps if s.parent is None}
        # A wait for a slot before a retry is inside the duration already.
        weights = {sid: s.duration + max(0.0, s.queued - s.requeued) for sid, s in top.items()}
        edges = [(a, b) for a, b in record.edges if a in top and b in top]
        try:
            path = critical_path(weights, edges)
        except ReplayError as exc:
            self.notes.append(f"{self.path}:{agg.lines[index]}: run {record.run_id}: {exc}")
            return None
        return CriticalPathReport(
            run_id=record.run_id,
            run_duration=record.duration,
            steps=tuple(
                PathStep(
                    id=sid,
                    duration=top[sid].duration,
                    queued=max(0.0, top[sid].queued - top[sid].requeued),
                )
                for sid in path.steps
            ),
            length=path.length,
        )

    def _source(self) -> HistorySource:
        issues = self.scan.issues
        return HistorySource(
            path=str(self.path),
            lines=self.scan.lines,
            skipped_lines=sum(1 for i in issues if not i.torn),
            torn_last_line=any(i.torn for i in issues),
            first_run_at=self.agg.first_started,
            last_run_at=self.agg.last_started,
            other_workflows=self.others,
            spec=self.spec.source if self.spec is not None else None,
            issues=tuple(issues),
        )

    def _data_notes(self, views: Mapping[str, StepView]) -> tuple[str, ...]:
        notes = []
        work = [v for v in views.values() if v.executions]
        if work and not any(v.aggregate.keys for v in work):
            notes.append(
                "no run recorded input hashes: caching and next-run flakiness were not analysed"
            )
        if self.agg.dropped_steps:
            notes.append(
                f"more than {MAX_STEPS} step names: {self.agg.dropped_steps} executions of "
                "the others were left out"
            )
        if self.spec is None:
            notes.append("without --spec, dependencies are not checked for data flow")
        return tuple(notes)


def _edges(record: RunRecord, current: set[str]) -> set[tuple[str, str]]:
    pairs = {(_norm(a), _norm(b)) for a, b in record.edges}
    return {(a, b) for a, b in pairs if a in current and b in current and a != b}


def _replace_stats(stats: StepStats, reasons: tuple[str, ...], on_path: bool) -> StepStats:
    return replace(stats, bottleneck_reasons=reasons, on_critical_path=on_path)
