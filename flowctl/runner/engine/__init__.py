"""The engine: the event-driven scheduler, one step from start to result, the run data."""
