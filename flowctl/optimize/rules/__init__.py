"""The recommendation rules, one module per type, run in order over one Context."""

from __future__ import annotations

from flowctl.optimize.report import Recommendation, RecommendationType
from flowctl.optimize.rules.agents import agents
from flowctl.optimize.rules.base import Context, Rule
from flowctl.optimize.rules.caching import caching
from flowctl.optimize.rules.concurrency import concurrency
from flowctl.optimize.rules.files import declare_files
from flowctl.optimize.rules.flaky import flaky
from flowctl.optimize.rules.parallelization import parallelization
from flowctl.optimize.rules.regression import regression
from flowctl.optimize.rules.retry import retry
from flowctl.optimize.rules.sla import sla
from flowctl.optimize.rules.timeout import timeout

# sla comes last: it weighs what the others found.
RULES: tuple[Rule, ...] = (
    parallelization,
    caching,
    declare_files,
    concurrency,
    regression,
    retry,
    timeout,
    flaky,
    agents,
    sla,
)

_ORDER = {t: i for i, t in enumerate(RecommendationType)}


def recommend(ctx: Context) -> list[Recommendation]:
    """Every recommendation, best expected improvement first (ties: type order, then id)."""
    for rule in RULES:
        ctx.found.extend(rule(ctx))
    return sorted(ctx.found, key=lambda r: (-r.expected_improvement, _ORDER[r.type], r.id))
