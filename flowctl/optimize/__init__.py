"""Metrics and computed recommendations from run history (the command is `commands.optimize`)."""

from flowctl.optimize.analyze import analyze_history
from flowctl.optimize.replay import ReplayError, critical_path, replay_makespan, replay_schedule
from flowctl.optimize.report import OptimizationReport, Recommendation, RecommendationType

__all__ = [
    "OptimizationReport",
    "Recommendation",
    "RecommendationType",
    "ReplayError",
    "analyze_history",
    "critical_path",
    "replay_makespan",
    "replay_schedule",
]
