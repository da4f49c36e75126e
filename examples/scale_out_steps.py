"""Steps of scale_out.yaml: CPU-bound pure Python, so threads share one GIL and processes
(Dask workers) do not. Each says where it ran: the process, and the Dask worker if any."""

from __future__ import annotations

import os
import socket
from typing import Any


def _worker() -> str | None:
    try:
        from distributed import get_worker
    except ImportError:
        return None
    try:
        return str(get_worker().address)
    except ValueError:  # not inside a Dask worker: the local executor
        return None


def crunch(seed: int, rounds: int) -> dict[str, Any]:
    """A deterministic checksum that costs about `rounds` / 3 million seconds of CPU."""
    value = seed
    for i in range(rounds):
        value = (value * 1_103_515_245 + 12_345 + i) % 2_147_483_648
    return {
        "checksum": value,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "worker": _worker(),
    }


def tally(iterations: list[dict[str, Any]]) -> dict[str, Any]:
    results = [iteration["crunch"] for iteration in iterations]
    return {
        "checksum": sum(r["checksum"] for r in results) % 2_147_483_648,
        "processes": len({(r["host"], r["pid"]) for r in results}),
        "workers": sorted({r["worker"] for r in results if r["worker"]}),
    }
