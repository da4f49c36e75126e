"""`flowctl optimize`: metrics and computed recommendations from run history."""

from flowctl.optimize.analyze import analyze_history
from flowctl.optimize.command import run_optimize
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
    "run_optimize",
]
