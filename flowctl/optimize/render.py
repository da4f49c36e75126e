"""The report as text: Markdown for a PR and JSON for programs (the Rich view is
`commands.optimize_view`).

History files are data from outside: every name taken from them is shown as plain text
(never as Rich markup or Markdown syntax) with control characters replaced.
"""

from __future__ import annotations

import json
import re

from flowctl.durations import format_duration
from flowctl.optimize.report import OptimizationReport, Recommendation, StepStats

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BLOCKS = " ▏▎▍▌▋▊▉█"
BAR_WIDTH = 20


def render_json(report: OptimizationReport) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"


def safe(text: str, *, newlines: bool = False) -> str:
    """`text` with control characters (escape sequences) made visible and harmless."""
    cleaned = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return cleaned if newlines else cleaned.replace("\n", " ")


def bar(p50: float, p95: float, scale: float, width: int = BAR_WIDTH) -> str:
    """A sparkline-style bar: solid up to p50, shaded from p50 to p95 (scale = full width)."""
    if scale <= 0:
        return ""
    solid = min(width, p50 / scale * width)
    shade = min(width, max(solid, p95 / scale * width))
    whole = int(solid)
    eighths = round((solid - whole) * 8)
    text = "█" * whole + (_BLOCKS[eighths] if eighths and whole < width else "")
    return text + "░" * max(0, round(shade) - len(text))


def secs(value: float) -> str:
    return format_duration(value)


def pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def status_line(report: OptimizationReport) -> str:
    counts = report.summary.status_counts
    return ", ".join(f"{name} {n}" for name, n in counts.items())


def step_notes(stats: StepStats) -> str:
    notes = list(stats.bottleneck_reasons)
    if stats.on_critical_path:
        notes.append("critical path")
    return ", ".join(notes)


# -- Markdown ---------------------------------------------------------------------------


def _md(text: str) -> str:
    """Plain text in a Markdown table cell or line: no markup, no broken table."""
    return re.sub(r"([\\`*_{}\[\]<>|#])", r"\\\1", safe(text))


def render_markdown(report: OptimizationReport) -> str:
    """GitHub-flavoured Markdown: for a PR comment or $GITHUB_STEP_SUMMARY."""
    s = report.summary
    d = s.duration
    lines = [
        f"## flowctl optimize: {_md(report.workflow)}",
        "",
        f"**Optimization score {s.score.value}/100** · {s.runs} runs analysed · "
        f"success {pct(s.success_rate)} · errors {pct(s.error_rate)}",
        "",
        "| Metric | Value |",
        "|---|---|",
        f"| Runs | {s.runs} ({_md(status_line(report))}) |",
        f"| Duration ({s.duration_of} runs) | avg {secs(d.mean)} · p50 {secs(d.p50)} · "
        f"p95 {secs(d.p95)} · max {secs(d.maximum)} |",
        f"| Median makespan (replayed) | {secs(s.median_makespan)} |",
        f"| Success / error rate | {pct(s.success_rate)} / {pct(s.error_rate)} |",
        f"| Score components | reliability {s.score.reliability:.2f} · efficiency "
        f"{s.score.efficiency:.2f} · consistency {s.score.consistency:.2f} |",
        f"| max_parallel_steps | {s.max_parallel_steps} |",
        "",
        "### Steps",
        "",
        "| Step | Type | Runs | avg | p50 | p95 | stdev | CV | Failures | Retries | "
        "Cache hits | Flakiness | Notes |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for st in report.steps:
        sd = st.duration
        name = _md(st.id)
        if st.bottleneck:
            name = f"**{name}**"
        lines.append(
            f"| {name} | {_md(st.type)} | {sd.count} | {secs(sd.mean)} | {secs(sd.p50)} | "
            f"{secs(sd.p95)} | {secs(sd.stdev)} | {sd.cv:.2f} | {st.failures} | {st.retries} | "
            f"{st.cache_hits} | {st.flakiness:.2f} | {_md(step_notes(st))} |"
        )
    lines.append("")
    bottlenecks = report.bottlenecks
    lines.append(
        "**Bottlenecks:** " + (", ".join(_md(b) for b in bottlenecks) if bottlenecks else "none")
    )
    lines.append("")
    path = report.critical_path
    if path is not None:
        chain = " → ".join(_md(p.id) for p in path.steps)
        lines += [
            f"### Critical path (median run {_md(path.run_id)}, {secs(path.run_duration)})",
            "",
            f"{chain} ({secs(path.length)})",
            "",
        ]
    total = report.recommendations_total
    lines.append(f"### Recommendations ({len(report.recommendations)} of {total})")
    lines.append("")
    if not report.recommendations:
        lines += ["Nothing to recommend from this history.", ""]
    for number, rec in enumerate(report.recommendations, start=1):
        lines += _md_recommendation(number, rec)
    if report.notes:
        lines.append("### Notes")
        lines.append("")
        lines += [f"- {_md(note)}" for note in report.notes]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _md_recommendation(number: int, rec: Recommendation) -> list[str]:
    lines = [
        f"{number}. **{_md(rec.id)}** ({rec.type.value}): {rec.expected_improvement:.1f}% "
        f"faster · effort {rec.implementation_effort.value} · risk {rec.risk_level.value}",
        "",
        f"   {_md(rec.description)}",
        "",
    ]
    for change in rec.specific_changes:
        if change.yaml is not None:
            where = f" ({_md(change.location)})" if change.location else ""
            lines += [f"   Change{where}:", "", "   ```yaml"]
            lines += [f"   {safe(line)}" for line in change.yaml.splitlines()]
            lines += ["   ```", ""]
        else:
            detail = json.dumps(change.value, ensure_ascii=False, sort_keys=True)
            # A code span shows the JSON as it is; a backtick inside would end it early.
            lines += [
                f"   Investigate {_md(change.key)}: `{safe(detail).replace('`', chr(39))}`",
                "",
            ]
    return lines
