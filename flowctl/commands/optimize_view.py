"""The `flowctl optimize` table view: summary panel, step table with bars, critical path, advice.

Names from history files are data from outside: they reach Rich as plain Text (never as
markup), through `render.safe`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from flowctl.optimize.render import bar, pct, safe, secs, status_line, step_notes
from flowctl.optimize.report import OptimizationReport

if TYPE_CHECKING:
    from rich.console import Console, RenderableType


def render_rich(report: OptimizationReport, console: Console) -> None:
    """The terminal view: summary panel, step table with bars, critical path, advice."""
    for block in _rich_blocks(report):
        console.print(block)


def _rich_blocks(report: OptimizationReport) -> list[RenderableType]:
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    s = report.summary
    d = s.duration
    head = Text()
    head.append(f"Optimization score {s.score.value}/100", style="bold")
    head.append(
        f"  (reliability {s.score.reliability:.2f}, efficiency {s.score.efficiency:.2f}, "
        f"consistency {s.score.consistency:.2f})\n"
    )
    head.append(f"Runs analysed  {s.runs}  ({safe(status_line(report))})\n")
    head.append(f"Success rate   {pct(s.success_rate)}    error rate {pct(s.error_rate)}\n")
    head.append(
        f"Duration       avg {secs(d.mean)}  p50 {secs(d.p50)}  p95 {secs(d.p95)}  "
        f"({s.duration_of} runs)\n"
    )
    head.append(
        f"Replayed median makespan {secs(s.median_makespan)} "
        f"(max_parallel_steps {s.max_parallel_steps})"
    )
    blocks: list[RenderableType] = [
        Panel(head, title=Text(f"flowctl optimize: {safe(report.workflow)}"), expand=False)
    ]

    table = Table(title="Steps", title_justify="left", show_lines=False)
    for header, justify in (
        ("Step", "left"),
        ("Type", "left"),
        ("Runs", "right"),
        ("avg", "right"),
        ("p50", "right"),
        ("p95", "right"),
        ("CV", "right"),
        ("Fail", "right"),
        ("Retry", "right"),
        ("Cache", "right"),
        ("p50 █ / p95 ░", "left"),
        ("Notes", "left"),
    ):
        table.add_column(header, justify=justify, no_wrap=header != "Notes")  # type: ignore[arg-type]
    scale = max((st.duration.p95 for st in report.steps), default=0.0)
    for st in report.steps:
        sd = st.duration
        style = "bold red" if st.bottleneck else ("yellow" if st.on_critical_path else None)
        table.add_row(
            Text(safe(st.id)),
            Text(safe(st.type)),
            str(sd.count),
            secs(sd.mean),
            secs(sd.p50),
            secs(sd.p95),
            f"{sd.cv:.2f}",
            str(st.failures),
            str(st.retries),
            str(st.cache_hits),
            bar(sd.p50, sd.p95, scale),
            Text(step_notes(st)),
            style=style,
        )
    blocks.append(table)

    path = report.critical_path
    if path is not None:
        text = Text("Critical path", style="bold")
        text.append(f" (median run {safe(path.run_id)}, {secs(path.run_duration)}): ")
        text.append(" → ".join(safe(p.id) for p in path.steps))
        text.append(f"  ({secs(path.length)})")
        blocks.append(text)

    total = report.recommendations_total
    title = Text(f"Recommendations ({len(report.recommendations)} of {total})", style="bold")
    blocks.append(title)
    if not report.recommendations:
        blocks.append(Text("Nothing to recommend from this history."))
    for number, rec in enumerate(report.recommendations, start=1):
        body = Text(safe(rec.description))
        for change in rec.specific_changes:
            if change.yaml is not None:
                where = f"  # {safe(change.location)}" if change.location else ""
                body.append(f"\n\n{safe(change.yaml, newlines=True)}{where}", style="cyan")
            else:
                detail = json.dumps(change.value, ensure_ascii=False, sort_keys=True)
                body.append(f"\n\ninvestigate {safe(change.key)}: {safe(detail)}", style="cyan")
        heading = Text(f"{number}. {safe(rec.id)}", style="bold")
        heading.append(
            f"  {rec.expected_improvement:.1f}% faster · effort {rec.implementation_effort.value}"
            f" · risk {rec.risk_level.value}"
        )
        blocks.append(Panel(body, title=heading, title_align="left"))
    for note in report.notes:
        blocks.append(Text(f"note: {safe(note)}", style="dim"))
    return blocks
