"""Shared by every test: a neutral environment; tests/e2e marked `e2e` and `slow`."""

from __future__ import annotations

from pathlib import Path

import pytest

# Set by CI runners or the developer's shell; each changes what flowctl prints (plain vs
# live progress, colour), so tests that want them set them explicitly.
_AMBIENT = ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "FORCE_COLOR", "NO_COLOR")
_E2E = Path(__file__).parent / "e2e"


@pytest.fixture(autouse=True)
def _neutral_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _AMBIENT:
        monkeypatch.delenv(name, raising=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _E2E in item.path.parents:
            # Each drives several flowctl processes end to end: seconds, not milliseconds.
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.slow)
