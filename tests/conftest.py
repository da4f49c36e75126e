"""Fixtures for every test: output assertions must not depend on where the suite runs."""

from __future__ import annotations

import pytest

# CI runs the suite with CI=true (and GitHub with GITHUB_ACTIONS=true, colour forced or
# refused): each changes what flowctl prints. Tests that want one set it themselves.
_WHERE_WE_RUN = ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "FORCE_COLOR", "NO_COLOR")


@pytest.fixture(autouse=True)
def _neutral_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _WHERE_WE_RUN:
        monkeypatch.delenv(name, raising=False)
