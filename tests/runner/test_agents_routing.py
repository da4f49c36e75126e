"""Agent pools and routing strategies, driven directly (the CLI tests cover whole runs)."""

from __future__ import annotations

import asyncio
import math

import pytest

from flowctl.errors import Location
from flowctl.runner.agents.learning import WINDOW, AgentLearning
from flowctl.runner.agents.pool import AgentPools
from flowctl.runner.agents.registry import AgentRegistry
from flowctl.runner.agents.routing import Decision, Router, adaptive_scores
from flowctl.spec.model import ActionStep, AgentSpec, Routing, StepType, Workflow

HERE = Location("wf.yaml", 1, 1)


def agents(*sizes: int) -> tuple[AgentSpec, ...]:
    return tuple(
        AgentSpec(name=f"a{i}", capabilities=("ocr",), python="m:f", max_concurrency=size)
        for i, size in enumerate(sizes)
    )


def registry(specs: tuple[AgentSpec, ...]) -> AgentRegistry:
    step = ActionStep(id="s", type=StepType.ACTION, location=HERE, agent_capability="ocr")
    wf = Workflow(
        name="wf", steps=(step,), source="wf.yaml", sha256="0", agents={a.name: a for a in specs}
    )
    return AgentRegistry.of(wf)


def choose(
    router: Router, strategy: Routing, specs: tuple[AgentSpec, ...], busy: dict[str, int]
) -> Decision | None:
    return router.choose(
        strategy,
        "ocr",
        specs,
        busy=busy,
        open_circuit=lambda a: False,
        allowed=lambda a: True,
    )


def test_first_available_round_robin_and_least_busy() -> None:
    specs = agents(1, 2, 4)
    router = Router(AgentLearning())
    first = choose(router, Routing.FIRST_AVAILABLE, specs, {"a0": 1})
    assert first is not None and first.agent.name == "a1"
    turns = []
    for _ in range(4):
        decision = choose(router, Routing.ROUND_ROBIN, specs, {})
        assert decision is not None
        turns.append(decision.agent.name)
    assert turns == ["a0", "a1", "a2", "a0"]
    least = choose(router, Routing.LEAST_BUSY, specs, {"a0": 0, "a1": 1, "a2": 1})
    assert least is not None and least.agent.name == "a0"
    least = choose(router, Routing.LEAST_BUSY, specs, {"a0": 1, "a1": 1, "a2": 1})
    assert least is not None and least.agent.name == "a2"  # 1/4 busy beats 1/2
    assert choose(router, Routing.LEAST_BUSY, specs, {"a0": 1, "a1": 2, "a2": 4}) is None


def test_adaptive_scores_explore_then_prefer_the_reliable_agent() -> None:
    learning = AgentLearning()
    specs = agents(1, 1)
    assert [math.isinf(s.score) for s in adaptive_scores(learning, "ocr", specs)] == [True] * 2
    for i in range(WINDOW * 2):
        learning.add("ocr", "a0", ok=i % 2 == 0, duration=0.1)
        learning.add("ocr", "a1", ok=True, duration=0.1)
    first, second = adaptive_scores(learning, "ocr", specs)
    assert (first.samples, first.success_rate) == (WINDOW, 0.5)
    assert second.score > first.score
    decision = choose(Router(learning), Routing.ADAPTIVE, specs, {})
    assert decision is not None and decision.agent.name == "a1"
    # The better agent is busy and the free one scores under half of it: wait for it.
    for _ in range(WINDOW):
        learning.add("ocr", "a0", ok=False, duration=0.1)
    assert choose(Router(learning), Routing.ADAPTIVE, specs, {"a1": 1}) is None


def test_pools_serve_waiters_first_in_first_out_and_never_exceed_a_pool() -> None:
    specs = agents(2)
    pools: AgentPools[str] = AgentPools(registry(specs))

    def take() -> tuple[AgentSpec, str] | None:
        return (specs[0], "a0") if pools.busy["a0"] < 2 else None

    async def main() -> list[int]:
        order: list[int] = []

        async def step(i: int) -> None:
            await pools.acquire("ocr", take)
            order.append(i)
            assert pools.busy["a0"] <= 2
            await asyncio.sleep(0)
            pools.release(specs[0])

        await asyncio.gather(*(step(i) for i in range(6)))
        return order

    assert asyncio.run(main()) == [0, 1, 2, 3, 4, 5]
    assert pools.peak["a0"] == 2 and pools.busy["a0"] == 0


def test_a_waiter_cancelled_after_its_grant_gives_the_slot_back() -> None:
    specs = agents(1)
    pools: AgentPools[str] = AgentPools(registry(specs))

    def take() -> tuple[AgentSpec, str] | None:
        return (specs[0], "a0") if pools.busy["a0"] < 1 else None

    async def main() -> None:
        await pools.acquire("ocr", take)
        waiter = asyncio.ensure_future(pools.acquire("ocr", take))
        await asyncio.sleep(0)
        pools.release(specs[0])  # granted to the waiter, which has not resumed yet
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert pools.busy["a0"] == 0
        assert await pools.acquire("ocr", take) == "a0"

    asyncio.run(main())
