"""The enumerated values of command-line options, shared by the CLI and the commands.

A leaf module (no imports beyond the standard library) so that `flowctl --help` can list
every choice without loading the code behind it.
"""

from __future__ import annotations

import enum


class ShowOutput(enum.StrEnum):
    """Which finished steps get their output printed (`--show-output`)."""

    FAILED = "failed"
    ALL = "all"
    NONE = "none"


class RunOutput(enum.StrEnum):
    """`run --output` / `resume --output`."""

    TEXT = "text"
    JSON = "json"


class ValidateFormat(enum.StrEnum):
    """`validate --format`: lines, JSON, GitHub annotations, or SARIF 2.1.0."""

    TEXT = "text"
    JSON = "json"
    GITHUB = "github"
    SARIF = "sarif"


class GraphFormat(enum.StrEnum):
    MERMAID = "mermaid"
    DOT = "dot"


class OptimizeFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


class AgentsFormat(enum.StrEnum):
    """`agents --format`."""

    TABLE = "table"
    JSON = "json"
