"""Reason and act for examples/react.yaml: find a hidden number by asking higher/lower."""

from __future__ import annotations

from typing import Any


def reason(low: int, high: int) -> dict[str, Any]:
    """Think: the best next guess halves what is left."""
    guess = (low + high) // 2
    return {"thought": f"the number is in [{low}, {high}]; try {guess}", "guess": guess}


def act(guess: int, target: int, low: int, high: int) -> dict[str, Any]:
    """Act: ask the environment, and narrow the range from its answer."""
    if guess == target:
        return {"observation": "correct", "done": True, "low": guess, "high": guess}
    if guess < target:
        return {"observation": "higher", "done": False, "low": guess + 1, "high": high}
    return {"observation": "lower", "done": False, "low": low, "high": guess - 1}
