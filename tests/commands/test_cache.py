"""`flowctl cache clear`: empties the shared step cache of a state directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowctl.commands.cache import run_cache_clear
from flowctl.errors import ExitCode, StateError
from flowctl.runner.engine.cache_lookup import cache_path
from flowctl.state.cache import StepCache


def test_clear_removes_every_entry_and_says_how_many(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with StepCache(cache_path(tmp_path)) as cache:
        for n in range(3):
            cache.put(f"k{n}", {"n": n}, ttl=None, run_id="r1")
    assert run_cache_clear(tmp_path) == ExitCode.OK
    assert capsys.readouterr().out == "removed 3 cached results\n"
    with StepCache(cache_path(tmp_path)) as cache:
        assert cache.get("k0") is None
    assert run_cache_clear(tmp_path) == ExitCode.OK
    assert capsys.readouterr().out == "removed 0 cached results\n"


def test_one_result_is_singular(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with StepCache(cache_path(tmp_path)) as cache:
        cache.put("k", {}, ttl=None)
    run_cache_clear(tmp_path)
    assert capsys.readouterr().out == "removed 1 cached result\n"


def test_without_a_cache_nothing_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "never-used"
    assert run_cache_clear(state) == ExitCode.OK
    assert capsys.readouterr().out == "removed 0 cached results\n"
    assert not state.exists()


def test_a_cache_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    cache_path(tmp_path).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError) as info:
        run_cache_clear(tmp_path)
    assert str(info.value).startswith(f"cannot use step cache {cache_path(tmp_path)}: ")
    assert info.value.exit_code is ExitCode.USAGE
