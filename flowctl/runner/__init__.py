"""Executing a workflow: the scheduler and one module per step type."""
