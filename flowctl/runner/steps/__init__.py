"""Step types: one module each, all behind the StepExecutor protocol."""
