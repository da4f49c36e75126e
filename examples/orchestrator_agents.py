"""Planner, worker and reducer for examples/orchestrator_worker.yaml."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

CORPUS = {
    "intro": "Workflows turn many small steps into one reliable job.",
    "parallel": "Independent steps run in parallel, so the job ends sooner.",
    "failure": "Steps fail; retries, handlers and rollback keep the job safe.",
    "history": "Run history shows where the time goes and what to change.",
}


def plan(question: str) -> dict[str, Any]:
    """The orchestrator: split the question into one task per relevant document."""
    words = set(re.findall(r"[a-z]+", question.lower()))
    tasks = [
        {"doc": name, "focus": sorted(words & set(re.findall(r"[a-z]+", text.lower())))}
        for name, text in CORPUS.items()
    ]
    return {"tasks": tasks, "count": len(tasks)}


def work(task: dict[str, Any]) -> dict[str, Any]:
    """A worker: score one document against the question's words."""
    words = Counter(re.findall(r"[a-z]+", CORPUS[task["doc"]].lower()))
    score = sum(words[w] for w in task["focus"])
    return {"doc": task["doc"], "score": score, "text": CORPUS[task["doc"]]}


def reduce(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The reducer: keep the best-scoring answers, best first."""
    ranked = sorted(results, key=lambda r: (-r["score"], r["doc"]))
    best = [r for r in ranked if r["score"] > 0] or ranked[:1]
    return {"answer": " ".join(r["text"] for r in best[:2]), "used": [r["doc"] for r in best]}
