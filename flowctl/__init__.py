"""flowctl: YAML-driven workflows you can validate, run, resume and optimize."""

from __future__ import annotations


def version() -> str:
    """The installed distribution's version: pyproject.toml is its only definition."""
    # Imported here: importlib.metadata is not needed by `--help` or a run.
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    try:
        return distribution_version("flowctl")
    except PackageNotFoundError:  # a source tree on sys.path that was never installed
        return "unknown (not installed)"


def __getattr__(name: str) -> str:
    if name == "__version__":
        return version()
    raise AttributeError(f"module 'flowctl' has no attribute {name!r}")
