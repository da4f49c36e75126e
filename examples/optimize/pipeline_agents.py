"""The steps of examples/optimize/pipeline.yaml: a nightly sales pipeline in miniature.

Each function is a python step: flowctl calls it with the step's params as keyword
arguments (plus `ctx` when it asks for one) and its returned mapping becomes the step's
outputs. The sleeps stand in for real work and are kept to milliseconds so that forty runs
take seconds.

The pipeline is run once per nightly batch (`inputs.batch`, see make_history.py), and the
batch number doubles as the example's clock: the outside world these steps talk to changes
with it, the same way every time, so the history it produces (and the optimize report
made from it) is reproducible. What the world does, and which recommendation it provokes:

- the report portal rejects the first upload of every fifth batch (flaky, passes on retry);
- the warehouse is in a maintenance window during batches 4, 14, 24 and 34, and
  refresh_views has no retries (retry advice: the next run with the same table passes);
- from batch 25 on, a new marketplace feed sends six times the orders, and transform,
  whose time grows with the number of orders, slows down (regression);
- exchange rates depend only on the region (caching).
"""

from __future__ import annotations

import asyncio
from typing import Any

MAINTENANCE_BATCHES = frozenset({4, 14, 24, 34})
RATE_LIMITED_EVERY = 5  # the portal rejects the first upload when batch % 5 == 2
MARKETPLACE_FROM = 25  # the batch from which the marketplace feed adds orders
ORDERS_BEFORE, ORDERS_AFTER = 20, 130

RATES = {"eu": 1.08, "us": 1.0, "apac": 0.0066}

# Milliseconds each report format takes to render: different, so that the fan-out has
# a visible shape in the report's step table.
RENDER_MS = {"csv": 20, "html": 25, "pdf": 35, "json": 30}


class TransientError(RuntimeError):
    """A failure of the outside world that goes away by itself."""


async def _work(milliseconds: float) -> None:
    await asyncio.sleep(milliseconds / 1000)


def _batch(ctx: Any) -> int:
    """The run's batch number, read as the clock of the outside world.

    Not a param on purpose: what the step works on (its params) is the same every third
    night, and only the world around it (a maintenance window) changes.
    """
    batch: int = ctx.names["inputs"]["batch"]
    return batch


async def fetch_orders(batch: int, region: str) -> dict[str, Any]:
    """Download the batch's orders."""
    await _work(15)
    count = ORDERS_AFTER if batch >= MARKETPLACE_FROM else ORDERS_BEFORE
    orders = [
        {"id": f"{region}-{batch}-{i}", "amount": 10 + (batch * 7 + i * 13) % 90}
        for i in range(count)
    ]
    return {"orders": orders, "count": count}


async def lookup_rates(region: str) -> dict[str, Any]:
    """Exchange rates for the region's currency: the same answer for the same region."""
    await _work(30)
    return {"rates": {"usd": RATES[region]}, "region": region}


async def transform(orders: list[dict[str, Any]], rates: dict[str, float]) -> dict[str, Any]:
    """Convert and total the orders; its time grows with the number of orders."""
    await _work(5 + 0.5 * len(orders))
    total = sum(order["amount"] for order in orders) * rates["usd"]
    return {"totals": {"orders": len(orders), "usd": round(total, 2)}}


async def render(totals: dict[str, Any], fmt: str, batch: int) -> dict[str, Any]:
    """Render one report format."""
    await _work(RENDER_MS[fmt])
    return {"path": f"reports/sales-{batch:04d}.{fmt}", "orders": totals["orders"]}


async def load_warehouse(totals: dict[str, Any], region: str, batch: int) -> dict[str, Any]:
    """Write the totals into the batch's partition of the region's table."""
    await _work(20)
    return {"table": f"sales_{region}", "partition": batch, "rows": totals["orders"]}


async def refresh_views(table: str, ctx: Any) -> dict[str, Any]:
    """Refresh the dashboards' views of a table; fails while the warehouse is in maintenance."""
    await _work(25)
    if _batch(ctx) in MAINTENANCE_BATCHES:
        raise TransientError(f"warehouse: {table} is read-only during maintenance")
    # The refresh is a side effect: its receipt names the run, so no two are alike.
    return {"view": f"{table}_daily", "refreshed_by": ctx.run_id}


async def archive_raw(orders: list[dict[str, Any]], batch: int) -> dict[str, Any]:
    """Copy the raw orders to cold storage."""
    await _work(40)
    return {"location": f"archive/orders-{batch:04d}.json", "count": len(orders)}


async def publish(
    reports: list[str], view: str, archive: str, batch: int, ctx: Any
) -> dict[str, Any]:
    """Upload the reports to the portal; it rejects the first upload of every fifth batch."""
    await _work(10)
    if batch % RATE_LIMITED_EVERY == 2 and ctx.attempt == 1:
        raise TransientError("portal: 429 Too Many Requests")
    return {"summary": f"{len(reports)} reports, view {view}, raw data in {archive}"}


async def notify(summary: str) -> dict[str, Any]:
    """Post the summary to the team's channel."""
    await _work(20)
    return {"message": f"sales pipeline done: {summary}"}
