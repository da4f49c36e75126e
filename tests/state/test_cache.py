"""The step cache: ttl, clear, keys bound to the step definition, many processes at once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowctl.errors import Location, StateError
from flowctl.secrets import SecretMasker
from flowctl.spec.model import ActionStep, CacheSpec, ShellCommand, StepType
from flowctl.state.cache import CacheHit, StepCache, cache_key


def test_put_then_get_returns_the_outputs(tmp_path: Path) -> None:
    path = tmp_path / "state" / "cache.db"
    cache = StepCache(path)
    assert not path.exists()  # created on first use, not on construction
    assert cache.get("k") is None
    assert path.exists()
    outputs = {"exit_code": 0, "stdout": "héllo\n", "list": [1, 2.5, None, True]}
    cache.put("k", outputs, ttl=None, run_id="run-1", now=1000.0)
    assert cache.get("k") == CacheHit(outputs=outputs, stored_at=1000.0, run_id="run-1")
    cache.put("k", {"v": 2}, ttl=None)  # replaces
    hit = cache.get("k")
    assert hit is not None and hit.outputs == {"v": 2} and hit.run_id is None
    cache.close()


def test_ttl_expiry(tmp_path: Path) -> None:
    with StepCache(tmp_path / "cache.db") as cache:
        cache.put("short", "a", ttl=60, now=1000.0)
        cache.put("forever", "b", ttl=None, now=1000.0)
        assert cache.get("short", now=1059.9) is not None
        assert cache.get("short", now=1060.0) is None
        assert cache.get("forever", now=1e12) == CacheHit("b", 1000.0, None)
        cache.put("short", "c", ttl=60, now=2000.0)  # storing again renews it
        assert cache.get("short", now=2030.0) == CacheHit("c", 2000.0, None)


def test_clear_counts_the_removed_entries(tmp_path: Path) -> None:
    with StepCache(tmp_path / "cache.db") as cache:
        assert cache.clear() == 0
        for i in range(5):
            cache.put(f"k{i}", i, ttl=None)
        assert cache.clear() == 5
        assert cache.get("k0") is None


def test_close_is_idempotent_and_the_cache_reopens(tmp_path: Path) -> None:
    cache = StepCache(tmp_path / "cache.db")
    cache.put("k", 1, ttl=None)
    cache.close()
    cache.close()
    hit = cache.get("k")
    assert hit is not None and hit.outputs == 1
    cache.close()


def test_outputs_that_are_not_json_are_refused(tmp_path: Path) -> None:
    with StepCache(tmp_path / "cache.db") as cache:
        with pytest.raises(StateError, match=r"^cannot cache step outputs that are not JSON: "):
            cache.put("k", {"obj": object()}, ttl=None)
        with pytest.raises(StateError, match=r"^cannot cache step outputs that are not JSON: "):
            cache.put("k", {"nan": float("nan")}, ttl=None)
        assert cache.get("k") is None


def test_secrets_never_reach_the_cache_file(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    with StepCache(path, masker=SecretMasker(["s3cret-token-value"])) as cache:
        cache.put("k", {"stdout": "token=s3cret-token-value\n"}, ttl=None)
        hit = cache.get("k")
        assert hit is not None and hit.outputs == {"stdout": "token=***\n"}
    for file in tmp_path.iterdir():
        assert b"s3cret-token-value" not in file.read_bytes()


def test_a_broken_database_file_is_a_clear_state_error(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    path.write_bytes(b"this is not a sqlite database, just text" * 100)
    with pytest.raises(StateError, match=r"cache\.db"):
        StepCache(path).get("k")


def _step(run: str, *, line: int = 3, description: str | None = None) -> ActionStep:
    return ActionStep(
        id="build",
        type=StepType.ACTION,
        location=Location("flow.yaml", line, 5),
        description=description,
        command=ShellCommand(run=run),
        cache=CacheSpec(key="{{ inputs.version }}", ttl=3600.0),
        input_mapping={"version": "inputs.version"},
    )


def test_cache_key_binds_the_rendered_key_to_the_step_definition() -> None:
    key = cache_key("v1.2", _step("make all"))
    assert len(key) == 64 and int(key, 16) >= 0
    assert cache_key("v1.2", _step("make all")) == key  # deterministic
    assert cache_key("v1.3", _step("make all")) != key  # another rendered key
    assert cache_key("v1.2", _step("make test")) != key  # the step changed
    # Moving the step in the file or re-describing it keeps the cache.
    assert cache_key("v1.2", _step("make all", line=40, description="builds it")) == key
    # Plain JSON definitions work too, and key order does not matter.
    assert cache_key("k", {"a": 1, "b": [1, 2]}) == cache_key("k", {"b": (1, 2), "a": 1})
    # The two parts cannot be confused by concatenation.
    assert cache_key("ab", "c") != cache_key("a", "bc")


WORKER = """
import sys, time
from pathlib import Path
from flowctl.state.cache import StepCache

db, n, start = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
while not start.exists():
    time.sleep(0.001)
cache = StepCache(db)
for i in range(40):
    cache.put(f"w{n}-k{i}", {"worker": n, "i": i, "pad": "z" * 500}, ttl=None, run_id=f"run{n}")
    cache.put("shared", {"worker": n}, ttl=None)
    hit = cache.get(f"w{n}-k{i}")
    assert hit is not None and hit.outputs["i"] == i, hit
    assert cache.get("shared") is not None
    cache.get(f"w{(n + 1) % 8}-k{i}")  # reads of another writer's keys, present or not
cache.close()
print("ok")
"""


def test_eight_processes_share_one_cache_without_errors_or_lost_entries(tmp_path: Path) -> None:
    db = tmp_path / "cache.db"  # created by the workers themselves, all at once
    start = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(db), str(n), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    time.sleep(0.3)  # let every interpreter start so that they really race
    start.touch()
    results = [p.communicate(timeout=60) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert (proc.returncode, out, err) == (0, "ok\n", "")
    with StepCache(db) as cache:
        for n in range(8):
            for i in range(40):
                hit = cache.get(f"w{n}-k{i}")
                assert hit is not None
                assert hit.outputs == {"worker": n, "i": i, "pad": "z" * 500}
                assert hit.run_id == f"run{n}"
        shared = cache.get("shared")
        assert shared is not None and shared.outputs["worker"] in range(8)
        assert cache.clear() == 8 * 40 + 1
