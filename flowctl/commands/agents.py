"""`flowctl agents [SPEC] [--history F]`: the agents, their pools and how they did."""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from flowctl.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from rich.table import Table

    from flowctl.optimize.agentstats import AgentStats
    from flowctl.state.records import RunRecord

Declared = Mapping[str, tuple[tuple[str, ...], int]]


class AgentsFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


def run_agents(spec: Path | None, history: Path, *, fmt: str = "table") -> int:
    """List the agents of SPEC (or of every run in the history) with their statistics."""
    try:
        chosen = AgentsFormat(fmt)
    except ValueError:
        raise UsageError(f"unknown format {fmt!r}; choose one of: table, json") from None
    from flowctl.optimize.agentstats import agent_stats

    declared: Declared | None = None
    workflow = None
    if spec is not None:
        from flowctl.spec.load import load_workflow

        wf = load_workflow(spec)
        declared = {a.name: (a.capabilities, a.max_concurrency) for a in wf.agents.values()}
        workflow = wf.name
    records = _records(history, required=spec is None)
    found = agent_stats(records, declared, workflow=workflow)
    if spec is not None:
        for agent in wf.agents.values():
            found[agent.name].tags = agent.tags
    stats = sorted(found.values(), key=_order(declared))
    if chosen is AgentsFormat.JSON:
        document = {"history": str(history), "agents": [s.to_json() for s in stats]}
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        return ExitCode.OK
    if not stats:
        sys.stdout.write(f"no agents in {spec if spec is not None else history}\n")
        return ExitCode.OK
    from flowctl.console import make_console

    make_console().print(_table(stats), soft_wrap=True)
    return ExitCode.OK


def _records(history: Path, *, required: bool) -> list[RunRecord]:
    from flowctl.state.history import iter_history

    if not history.is_file():
        if required:
            raise UsageError(f"no history file {history} (run a workflow first, or give --history)")
        return []
    return list(iter_history(history, issues=[]))


def _order(declared: Declared | None) -> Callable[[AgentStats], tuple[int, str]]:
    """The spec's order first (file order), then agents only the history knows, by name."""
    names = {name: i for i, name in enumerate(declared or {})}
    return lambda stats: (names.get(stats.name, len(names)), stats.name)


def _table(stats: list[AgentStats]) -> Table:
    from rich.table import Table

    from flowctl.durations import format_duration

    def seconds(value: float | None) -> str:
        return format_duration(value) if value is not None else "-"

    def share(value: float | None) -> str:
        return f"{value:.0%}" if value is not None else "-"

    table = Table(box=None, pad_edge=False, header_style="bold")
    tagged = any(entry.tags for entry in stats)
    for column in ("agent", "capabilities", *(("tags",) if tagged else ())):
        table.add_column(column)
    for column in ("pool", "runs", "attempts", "success", "p50", "p95", "queue p95", "use"):
        table.add_column(column, justify="right")
    for entry in stats:
        table.add_row(
            entry.name,
            ", ".join(entry.capabilities),
            *((", ".join(entry.tags),) if tagged else ()),
            str(entry.pool) if entry.pool is not None else "-",
            str(entry.runs),
            str(entry.attempts),
            share(entry.success_rate),
            seconds(entry.p(0.5)),
            seconds(entry.p(0.95)),
            seconds(entry.wait_p95()),
            share(entry.utilisation),
        )
    return table
