"""Python steps of the replay-against-rerun test: each sleeps a fixed time."""

from __future__ import annotations

import time


def nap(seconds: float) -> dict[str, float]:
    time.sleep(float(seconds))
    return {"slept": float(seconds)}
