"""Shared by every test: a neutral environment, signal dispositions restored after each test,
and tests/e2e marked `e2e` and `slow`."""

from __future__ import annotations

import signal
from collections.abc import Iterator
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


@pytest.fixture(autouse=True)
def _restore_signal_dispositions() -> Iterator[None]:
    # Tests share a process with the next test on the same xdist worker. A test that leaves
    # SIGINT ignored makes every flowctl it starts later ignore Ctrl-C too (an ignored
    # signal stays ignored across exec), so a later test's SIGINT would do nothing.
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        if signal.getsignal(sig) is not handler and handler is not None:
            signal.signal(sig, handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _E2E in item.path.parents:
            # Each drives several flowctl processes end to end: seconds, not milliseconds.
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.slow)
