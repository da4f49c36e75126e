"""Files flowctl cannot see: one recommendation to declare sources/generates (needs --spec).

A dependency between shell steps that declare no files may carry data through them, so
the parallelization rule gives no advice for it and the caching rule none for such steps;
instead this rule names them once, with what the check could save at most.
"""

from __future__ import annotations

from collections.abc import Iterator

from flowctl.files.effects import UNKNOWN, undeclared_shell
from flowctl.optimize.model import Change
from flowctl.optimize.report import Level, Recommendation, RecommendationType
from flowctl.optimize.rules.base import Context, evidence, investigate

_SHOWN = 6  # step ids named in the description


def declare_files(ctx: Context) -> Iterator[Recommendation]:
    if ctx.dataflow is None:
        return
    unknown: list[tuple[str, str]] = []
    for level in ctx.model.levels.values():
        for up, down in sorted(level.edges):
            a, b = ctx.steps.get(up), ctx.steps.get(down)
            if a is None or b is None or a.spec is None or b.spec is None:
                continue
            reason = ctx.dataflow.needed(a.file_id, b.file_id)
            if reason is not None and reason.startswith(UNKNOWN):
                unknown.append((up, down))
    uncached = [v for v in ctx.steps.values() if v.spec is not None and undeclared_shell(v.spec)]
    if not unknown:
        return
    files = ctx.dataflow.files
    steps: dict[str, None] = {}
    for up, down in unknown:
        for name in (up, down):
            steps.update(dict.fromkeys(files.undeclared.get(ctx.steps[name].file_id, ())))
    ids = list(steps)
    shown = ", ".join(f"'{s}'" for s in ids[:_SHOWN]) + (
        f" and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else ""
    )
    at_most = ctx.model.improvement(Change(removed_edges=frozenset(unknown)))
    yield Recommendation(
        id="parallelization:declare-files",
        type=RecommendationType.PARALLELIZATION,
        description=(
            f"{len(unknown)} {'dependencies link' if len(unknown) != 1 else 'dependency links'}"
            f" shell steps that declare no files ({shown}): data may flow through files "
            "flowctl cannot see, so no parallelization or caching advice is given for them. "
            "Declare what each reads (`sources`) and writes (`generates`): flowctl then "
            "checks the data flow, infers the order from the files and skips up-to-date "
            f"steps. Dropping every such dependency could save at most {at_most:.1f}%, "
            "if none of them carries a file."
        ),
        expected_improvement=0.0,  # unknown until the files are declared
        implementation_effort=Level.MEDIUM,
        risk_level=Level.LOW,
        specific_changes=tuple(
            investigate(
                ctx.steps.get(sid),
                "sources",
                {"declare": ["sources", "generates"], "why": "file effects unknown"},
            )
            for sid in ids
            if sid in ctx.steps
        ),
        steps=tuple(ids),
        evidence=evidence(
            unknown_dependencies=[[ctx.steps[u].file_id, ctx.steps[d].file_id] for u, d in unknown],
            at_most_improvement=at_most,
            steps_without_caching_advice=[v.file_id for v in uncached],
        ),
        change=None,
    )
