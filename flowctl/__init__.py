"""flowctl: YAML-driven workflows you can validate, run, resume and optimize."""

__version__ = "0.1.0"
