"""The layer rules of ARCHITECTURE.md: the engine and its data never import the views.

Every import statement counts, including those inside functions and under TYPE_CHECKING:
a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import flowctl

PACKAGE = Path(flowctl.__file__).parent
# The layers below the command line: they may be used from code, with no terminal.
LOWER = ("runner", "state", "graph", "expressions", "optimize", "spec", "files")
# What only the command line and its views may import.
VIEWS = (
    "flowctl.commands",
    "flowctl.cli",
    "flowctl.entry",
    "flowctl.runargs",
    "flowctl.helptext",
    "flowctl.progress",
    "flowctl.console",
    "rich",
    "typer",
)


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in a source file; `from a import b` gives a.b too."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: use absolute imports"
            module = node.module or ""
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def is_under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def lower_modules() -> list[Path]:
    return sorted(p for layer in LOWER for p in (PACKAGE / layer).rglob("*.py"))


def test_the_lower_layers_exist() -> None:
    found = {p.relative_to(PACKAGE).parts[0] for p in lower_modules()}
    assert found == set(LOWER)


@pytest.mark.parametrize("path", lower_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_lower_layers_import_no_view(path: Path) -> None:
    wrong = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: imports {module}"
        for line, module in imported_modules(path)
        if any(is_under(module, view) for view in VIEWS)
    ]
    assert wrong == []


def test_the_rule_catches_a_lazy_import(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from flowctl.commands.runs import list_runs\n")
    assert [m for _, m in imported_modules(source) if is_under(m, "flowctl.commands")] == [
        "flowctl.commands.runs",
        "flowctl.commands.runs.list_runs",
    ]
