"""Agent advice: pool sizes, routing away from a failing agent, unused agents, adaptive routing.

Runs only for workflows whose history records agents (Context.agents). Every
expected_improvement is replayed: a pool size through the median run's steps with the
bigger pool (flowctl.optimize.agentreplay), routing changes through the DAG model with
the agent steps' durations the change would give.
"""

from __future__ import annotations

from collections.abc import Iterator

from flowctl.optimize.agentreplay import replay_with_pools
from flowctl.optimize.agentstats import AgentHistory, AgentStats
from flowctl.optimize.model import Change
from flowctl.optimize.report import (
    ChangeAction,
    Level,
    Recommendation,
    RecommendationType,
    SpecificChange,
)
from flowctl.optimize.rules.base import Context, evidence, percent, seconds, set_change

MIN_ATTEMPTS = 10  # attempts of an agent before its success rate says anything
FAR_BELOW = 0.2  # success rate this far below the best peer's: route away
MIN_WAIT = 0.01  # seconds of queue wait (p95) below which a pool is not the problem
MIN_GAIN = 1.0  # percent of the makespan a bigger pool must save
MIN_RUNS_UNUSED = 5  # runs analysed before an agent never chosen is called unused
CLEARLY_FASTER = 1.5  # p50 ratio between agents that makes them "differ clearly"
CLEARLY_SAFER = 0.1  # success-rate gap that does


def agents(ctx: Context) -> Iterator[Recommendation]:
    known = ctx.agents
    if known is None:
        return
    yield from _pools(ctx, known)
    away = list(_route_away(ctx, known))
    yield from away
    yield from _unused(ctx, known)
    # A route-away advice that already says "routing: adaptive" is not repeated.
    said = {str(r.evidence.get("capability")) for r in away if known.routing != "adaptive"}
    yield from (r for r in _adaptive(ctx, known) if r.evidence.get("capability") not in said)


def _pools(ctx: Context, known: AgentHistory) -> Iterator[Recommendation]:
    run = known.median_run
    if run is None:
        return
    pools = {name: size for name, (_, size) in known.declared.items()}
    base = replay_with_pools(run, pools)
    if base <= 0:
        return
    for name, size in pools.items():
        stats = known.stats.get(name)
        wait = stats.wait_p95() if stats is not None else None
        if stats is None or wait is None or wait < MIN_WAIT:
            continue
        bigger = size * 2
        after = replay_with_pools(run, {**pools, name: bigger})
        gain = 100.0 * (base - after) / base
        if gain < MIN_GAIN:
            continue  # the queue wait is not on the critical path
        key = f"agents.{name}.max_concurrency"
        yield Recommendation(
            id=f"concurrency:agent.{name}",
            type=RecommendationType.CONCURRENCY,
            description=(
                f"Steps waited for agent '{name}' (queue wait p95 {seconds(wait)}, pool of "
                f"{size}) on the critical path of the median run. Raise its "
                f"max_concurrency to {bigger} if what it calls can take the load: the "
                f"median run replays in {seconds(after)} instead of {seconds(base)}."
            ),
            expected_improvement=gain,
            implementation_effort=Level.LOW,
            risk_level=Level.MEDIUM,
            specific_changes=(set_change(ctx, None, key, bigger, size),),
            evidence=evidence(
                queue_wait_p95=wait,
                pool=size,
                proposed=bigger,
                replay_before=base,
                replay_after=after,
                median_run=run.run_id,
            ),
        )


def _by_capability(known: AgentHistory) -> dict[str, list[AgentStats]]:
    out: dict[str, list[AgentStats]] = {}
    for name, (caps, _) in known.declared.items():
        stats = known.stats.get(name)
        if stats is None:
            continue
        for capability in caps:
            out.setdefault(capability, []).append(stats)
    return out


def _saving(ctx: Context, known: AgentHistory, agent: str) -> tuple[float, Change]:
    """The makespan saved if the failed attempts on `agent` had not been made."""
    durations = {}
    for name, (_, failed, executions) in known.steps.items():
        lost = failed.get(agent, 0.0)
        current = ctx.model.durations.get(name)
        if lost > 0 and executions and current is not None:
            durations[name] = max(0.0, current - lost / executions)
    change = Change(durations=durations)
    return ctx.model.improvement(change), change


def _route_away(ctx: Context, known: AgentHistory) -> Iterator[Recommendation]:
    for capability, peers in _by_capability(known).items():
        rated = [s for s in peers if s.attempts >= MIN_ATTEMPTS and s.success_rate is not None]
        if len(rated) < 2:
            continue
        best = max(rated, key=lambda s: s.success_rate or 0.0)
        for stats in rated:
            rate, top = stats.success_rate or 0.0, best.success_rate or 0.0
            if stats is best or rate > top - FAR_BELOW:
                continue
            gain, change = _saving(ctx, known, stats.name)
            adaptive = known.routing == "adaptive"
            changes: tuple[SpecificChange, ...]
            if adaptive:
                changes = (
                    SpecificChange(
                        action=ChangeAction.INVESTIGATE,
                        step=None,
                        key=f"agents.{stats.name}",
                        value={"success_rate": round(rate, 4), "peer": best.name},
                    ),
                )
                advice = "Adaptive routing already avoids it when it can: find the cause."
            else:
                changes = (set_change(ctx, None, "routing", "adaptive", known.routing),)
                advice = "Turn on adaptive routing so that steps go to it less."
            yield Recommendation(
                id=f"routing:away.{stats.name}",
                type=RecommendationType.ROUTING,
                description=(
                    f"Agent '{stats.name}' succeeds in {percent(rate)} of its {stats.attempts} "
                    f"attempts for {capability}, against {percent(top)} for '{best.name}'. "
                    + advice
                ),
                expected_improvement=gain,
                implementation_effort=Level.LOW,
                risk_level=Level.LOW,
                specific_changes=changes,
                evidence=evidence(
                    capability=capability,
                    success_rate=rate,
                    attempts=stats.attempts,
                    peer=best.name,
                    peer_success_rate=top,
                ),
                change=change,
            )


def _unused(ctx: Context, known: AgentHistory) -> Iterator[Recommendation]:
    if known.runs < MIN_RUNS_UNUSED:
        return
    for name in known.declared:
        stats = known.stats.get(name)
        if stats is not None and stats.attempts:
            continue
        yield Recommendation(
            id=f"routing:unused.{name}",
            type=RecommendationType.ROUTING,
            description=(
                f"Agent '{name}' was never chosen in {known.runs} runs: remove it, or check "
                "that some step asks for its capabilities."
            ),
            expected_improvement=0.0,
            implementation_effort=Level.LOW,
            risk_level=Level.LOW,
            specific_changes=(
                SpecificChange(
                    action=ChangeAction.REMOVE,
                    step=None,
                    key="agents",
                    value=name,
                    location=ctx.where(None, "agents"),
                ),
            ),
            evidence=evidence(runs=known.runs),
        )


def _adaptive(ctx: Context, known: AgentHistory) -> Iterator[Recommendation]:
    if known.routing in (None, "adaptive"):
        return
    for capability, peers in _by_capability(known).items():
        rated = [s for s in peers if s.attempts >= MIN_ATTEMPTS and s.p_ok(0.5)]
        if len(rated) < 2:
            continue
        rates = [s.success_rate or 0.0 for s in rated]
        p50s = [s.p_ok(0.5) or 0.0 for s in rated]
        if max(rates) - min(rates) < CLEARLY_SAFER and max(p50s) < CLEARLY_FASTER * min(p50s):
            continue
        # The best agent by expected time per success; steps on the others would take that.
        best = min(rated, key=lambda s: (s.p_ok(0.5) or 0.0) / max(s.success_rate or 0.0, 1e-9))
        per_success = (best.p_ok(0.5) or 0.0) / max(best.success_rate or 0.0, 1e-9)
        durations = {
            name: min(ctx.model.durations[name], per_success)
            for name, (cap, _, _) in known.steps.items()
            if cap == capability and name in ctx.model.durations
        }
        change = Change(durations=durations)
        yield Recommendation(
            id=f"routing:adaptive.{capability}",
            type=RecommendationType.ROUTING,
            description=(
                f"The agents with {capability} differ clearly (success "
                f"{percent(min(rates))} to {percent(max(rates))}, median "
                f"{seconds(min(p50s))} to {seconds(max(p50s))}) but routing is "
                f"{known.routing}. Set routing: adaptive so that steps go to '{best.name}' "
                "more often."
            ),
            expected_improvement=ctx.model.improvement(change),
            implementation_effort=Level.LOW,
            risk_level=Level.LOW,
            specific_changes=(set_change(ctx, None, "routing", "adaptive", known.routing),),
            evidence=evidence(
                capability=capability,
                best=best.name,
                success_rates={s.name: s.success_rate for s in rated},
                p50={s.name: s.p_ok(0.5) for s in rated},
            ),
            change=change,
        )
