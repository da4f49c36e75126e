"""`flowctl report RUN_ID --html F`: one self-contained HTML file (inline SVG and CSS, no script,
no network) with the run's summary and SLA, a Gantt chart of every attempt, the DAG with its
critical path, and each step's facts and log tail.

Everything shown comes from the run directory, where secrets are already masked.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flowctl.errors import StateError
from flowctl.progress.ansi import clean_output
from flowctl.progress.format import format_duration
from flowctl.progress.tails import read_log_tail
from flowctl.report.timeline import StepLine, build_timeline, run_edges, ts
from flowctl.state.audit import read_journal

CHART_WIDTH = 860
LABEL_WIDTH = 280
ROW = 22
TAIL_LINES = 30
NODE_W, NODE_H, COL_GAP, ROW_GAP = 170, 28, 60, 14

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.muted{color:#667}.ok{color:#17803d}.bad{color:#c62828}
table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #e4e6eb;
text-align:left;vertical-align:top}th{background:#f5f6f8}
pre{background:#f5f6f8;padding:8px;overflow-x:auto;margin:4px 0;font-size:12px}
svg text{font:12px system-ui,sans-serif;fill:#1d2330}
.attempt.completed{fill:#2e9d57}.attempt.failed{fill:#d93838}.attempt.retried{fill:#e8903a}
.attempt.cancelled{fill:#a3a3a3}.attempt.waiting{fill:#8e6bbf}.attempt{fill:#5b7fb8}
.backoff{fill:#f3d2a8}.queue{fill:#d6dbe4}.wait{fill:#d9c8ef}
.node{fill:#eef1f6;stroke:#8a94a6}.node.critical{fill:#fff1d6;stroke:#d98a00;stroke-width:2}
.node.failed{stroke:#d93838;stroke-width:2}
.edge{stroke:#8a94a6;fill:none}.edge.critical{stroke:#d98a00;stroke-width:2.5}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 14px;vertical-align:-1px}
"""


def write_html_report(run_dir: Path, target: Path, *, history: Path | None = None) -> None:
    """Write the report of the run in `run_dir` to `target`."""
    text = render_run(run_dir, history=history)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise StateError(f"--html: cannot write {target}: {exc.strerror or exc}") from exc


def render_run(run_dir: Path, *, history: Path | None = None) -> str:
    try:
        report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StateError(f"{run_dir}: no readable report.json ({exc})") from exc
    events = read_journal(run_dir / "audit.jsonl").events
    lines = build_timeline(events, report.get("steps") or ())
    state = run_dir.parent.parent
    edges = run_edges(history or state / "history.jsonl", str(report.get("run_id")))
    return render(report, lines, edges, run_dir)


def render(
    report: Mapping[str, Any],
    lines: Sequence[StepLine],
    edges: Sequence[tuple[str, str]],
    run_dir: Path,
) -> str:
    e = html.escape
    title = f"{report.get('workflow')} — run {report.get('run_id')}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # No request may leave the file: not even for a favicon.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        '<link rel="icon" href="data:,">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
        *_summary(report),
        "<h2>Timeline</h2>",
        _legend(),
        _gantt(lines),
    ]
    critical: list[str] = []
    if edges:
        critical = _critical(lines, edges)
        parts += [
            "<h2>Graph</h2>",
            '<p class="muted">The critical path (the longest chain of dependent steps by '
            "duration) is highlighted.</p>"
            if critical
            else "",
            _dag(lines, edges, set(critical)),
        ]
    parts += ["<h2>Steps</h2>", _steps(lines, run_dir), "</body></html>"]
    return "\n".join(p for p in parts if p) + "\n"


def _when(value: Any) -> str:
    moment = ts(value) if isinstance(value, str) else None
    if moment is None:
        return "-"
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _summary(report: Mapping[str, Any]) -> list[str]:
    e = html.escape
    status = str(report.get("status"))
    cls = "ok" if status == "completed" else "bad"
    counts = report.get("counts") or {}
    shown = ", ".join(f"{n} {k}" for k, n in counts.items() if n and k != "total")
    out = [
        f'<h1>{e(str(report.get("workflow")))} <span class="{cls}">{e(status)}</span></h1>',
        f'<p class="muted">run {e(str(report.get("run_id")))} · started '
        f"{_when(report.get('started_at'))} · {format_duration(float(report.get('duration') or 0))}"
        f" · {counts.get('total', 0)} step runs including loop items: {e(shown)}"
        + (" · resumed" if report.get("resumed") else "")
        + "</p>",
    ]
    if report.get("error"):
        out.append(f'<p class="bad">{e(str(report["error"]))}</p>')
    sla = report.get("sla")
    if isinstance(sla, Mapping):
        rows = "".join(
            f"<tr><td>{e(str(c.get('target')))}</td><td>{e(str(c.get('limit')))}</td>"
            f"<td>{e(str(c.get('actual')))}</td>"
            f'<td class="{"ok" if c.get("ok") else "bad"}">{"met" if c.get("ok") else "missed"}'
            "</td></tr>"
            for c in sla.get("checks") or ()
        )
        out.append(
            "<h2>SLA</h2><table><tr><th>target</th><th>limit</th><th>actual</th><th></th></tr>"
            f"{rows}</table>"
        )
    return out


def _legend() -> str:
    items = [
        ("attempt completed", "#2e9d57"),
        ("failed", "#d93838"),
        ("retried", "#e8903a"),
        ("retry backoff", "#f3d2a8"),
        ("queued for a slot", "#d6dbe4"),
        ("waiting for approval", "#d9c8ef"),
    ]
    spans = "".join(f'<span style="background:{c}"></span>{html.escape(t)}' for t, c in items)
    return f'<p class="legend muted">{spans}</p>'


def _gantt(lines: Sequence[StepLine]) -> str:
    spans = [s for line in lines for s in line.spans]
    if not spans:
        return '<p class="muted">No step ran in this run.</p>'
    t0 = min(s.start for s in spans)
    t1 = max(s.end for s in spans)
    scale = CHART_WIDTH / max(t1 - t0, 1e-6)
    rows = [line for line in lines if line.spans]
    height = ROW * len(rows) + 24
    out = [
        '<svg id="gantt" xmlns="http://www.w3.org/2000/svg" '
        f'width="{LABEL_WIDTH + CHART_WIDTH + 40}"'
        f' height="{height}" role="img" aria-label="timeline of every attempt">'
    ]
    for tick in range(5):
        x = LABEL_WIDTH + CHART_WIDTH * tick / 4
        out.append(
            f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 18}" stroke="#e4e6eb"/>'
            f'<text x="{x:.1f}" y="{height - 4}" text-anchor="middle">'
            f"{format_duration((t1 - t0) * tick / 4)}</text>"
        )
    for n, line in enumerate(rows):
        y = n * ROW
        out.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end">'
            f"{html.escape(_short(line.name, 40))}<title>{html.escape(line.name)}</title></text>"
        )
        for span in line.spans:
            x = LABEL_WIDTH + (span.start - t0) * scale
            w = max((span.end - span.start) * scale, 1.5)
            cls = span.kind if span.kind != "attempt" else f"attempt {span.status or ''}".strip()
            what = {
                "attempt": f"attempt {span.attempt} ({span.status})",
                "backoff": "retry backoff",
                "queue": "waiting for a free slot",
                "wait": "waiting for approval",
            }[span.kind]
            data = (
                f' data-step="{html.escape(line.id)}" data-attempt="{span.attempt}"'
                if span.kind == "attempt"
                else ""
            )
            out.append(
                f'<rect class="{cls}"{data} x="{x:.1f}" y="{y + 4}" width="{w:.1f}" '
                f'height="{ROW - 8}" rx="2"><title>{html.escape(line.name)}: {html.escape(what)}, '
                f"{format_duration(span.end - span.start)}</title></rect>"
            )
    out.append("</svg>")
    return "".join(out)


def _short(text: str, limit: int) -> str:
    """A label that fits its column; the whole id is in the element's tooltip."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _critical(lines: Sequence[StepLine], edges: Sequence[tuple[str, str]]) -> list[str]:
    from flowctl.optimize.replay import critical_path

    durations = {line.id: line.duration for line in lines}
    for a, b in edges:
        durations.setdefault(a, 0.0)
        durations.setdefault(b, 0.0)
    try:
        return list(critical_path(durations, edges).steps)
    except Exception:  # a malformed history line must not cost the rest of the report
        return []


def _levels(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Each node's column: the length of the longest chain of dependencies before it."""
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        preds.setdefault(b, []).append(a)
        preds.setdefault(a, [])
    level: dict[str, int] = {}
    for start in preds:
        stack = [start]
        while stack:
            node = stack[-1]
            if node in level:
                stack.pop()
                continue
            pending = [p for p in preds[node] if p not in level and p not in stack]
            if pending:
                stack.extend(pending)
                continue
            level[node] = 1 + max((level.get(p, -1) for p in preds[node]), default=-1)
            stack.pop()
    return level


def _dag(lines: Sequence[StepLine], edges: Sequence[tuple[str, str]], critical: set[str]) -> str:
    status = {line.id: line.status for line in lines}
    names = {line.id: line.name for line in lines}  # loop items by label; ids stay the keys
    nodes = list(dict.fromkeys([a for a, _ in edges] + [b for _, b in edges]))
    nodes += [line.id for line in lines if line.id not in nodes and "." not in line.id]
    level = _levels(nodes, edges)
    columns: dict[int, list[str]] = {}
    for node in nodes:
        columns.setdefault(level[node], []).append(node)
    pos = {}
    for col, members in columns.items():
        for row, node in enumerate(members):
            pos[node] = (10 + col * (NODE_W + COL_GAP), 10 + row * (NODE_H + ROW_GAP))
    width = 20 + (max(columns, default=0) + 1) * (NODE_W + COL_GAP)
    height = 20 + max((len(m) for m in columns.values()), default=1) * (NODE_H + ROW_GAP)
    out = [
        f'<svg id="dag" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'role="img" aria-label="dependency graph">'
    ]
    for a, b in edges:
        (xa, ya), (xb, yb) = pos[a], pos[b]
        cls = "edge critical" if a in critical and b in critical else "edge"
        x1, y1, x2, y2 = xa + NODE_W, ya + NODE_H / 2, xb, yb + NODE_H / 2
        mid = (x1 + x2) / 2
        out.append(
            f'<path class="{cls}" d="M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} '
            f'{x2:.0f},{y2:.0f}"/>'
        )
    for node in nodes:
        x, y = pos[node]
        name = names.get(node, node)
        cls = "node" + (" critical" if node in critical else "")
        cls += " failed" if status.get(node) == "failed" else ""
        out.append(
            f'<g><rect class="{cls}" x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="4"/>'
            f'<text x="{x + 8}" y="{y + 18}">{html.escape(_short(name, 24))}</text>'
            f"<title>{html.escape(name)} "
            f"({html.escape(status.get(node) or '?')})</title></g>"
        )
    out.append("</svg>")
    return "".join(out)


def _steps(lines: Sequence[StepLine], run_dir: Path) -> str:
    e = html.escape
    rows = [
        "<table><tr><th>step</th><th>type</th><th>status</th><th>duration</th>"
        "<th>attempts</th><th>facts</th><th>error / reason</th></tr>"
    ]
    tails = []
    for line in lines:
        facts = []
        if line.agent:
            facts.append(f"agent {line.agent}")
        if line.cached:
            facts.append("from the cache")
        if line.attempts > 1:
            facts.append(f"retried {line.attempts - 1} times")
        rows.append(
            f"<tr><td>{e(line.name)}</td><td>{e(line.type)}</td><td>{e(line.status)}</td>"
            f"<td>{format_duration(line.duration) if line.attempts else ''}</td>"
            f"<td>{line.attempts or ''}</td><td>{e(', '.join(facts))}</td>"
            f"<td>{e(line.error or line.reason or '')}</td></tr>"
        )
        if line.log:
            path = run_dir / "logs" / Path(line.log).name  # the report's path is cwd-relative
            tail = clean_output(read_log_tail(path, TAIL_LINES), keep_sgr=False).strip("\n")
            if tail.strip():
                opened = " open" if line.status == "failed" else ""
                tails.append(
                    f"<details{opened}><summary>{e(line.name)}: the last "
                    f"{len(tail.splitlines())} lines of its log</summary><pre>{e(tail)}</pre>"
                    "</details>"
                )
    rows.append("</table>")
    if tails:
        rows += ["<h2>Logs</h2>", *tails]
    return "\n".join(rows)
