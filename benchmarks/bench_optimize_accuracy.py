"""optimize's predicted gains against a re-run of the change, through the CLI.

    .venv/bin/python benchmarks/bench_optimize_accuracy.py

Prints each prediction beside what the re-run measured, and PASS when every one is within
TOLERANCE points. A measurement of real sleeping steps, so it lives here and not in the test
suite (whose verdicts never depend on timing); the replay's schedule itself is tested
deterministically in tests/optimize/test_model.py.

A parallel container of four children runs under max_parallel_steps 2 beside a long
branch. The runner gives each child a slot of the run's pool; a replay that counted the
container as one slot predicted no gain from a higher limit here (the container's measured
duration does not move), and over-estimated what caching one child saves. Both verdicts
compare the prediction with the durations the history recorded for the runs: the steps
sleep for fixed times (0.2 to 1.6 s) so that flowctl's own overhead is a few percent.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

RUNS = 5
TOLERANCE = 10.0  # percentage points: flowctl's per-step overhead under a loaded machine

SPEC = """\
name: fanout
inputs:
  short: {{type: number, default: 0.2}}
  child: {{type: number, default: 0.8}}
  long: {{type: number, default: 1.6}}
max_parallel_steps: {limit}
steps:
  - id: prep
    python: "naps:nap"
    input_mapping: {{seconds: inputs.short}}
  - id: fan
    type: parallel
    dependencies: [prep]
    parallel_steps:
      - {{id: c1, python: "naps:nap",
         input_mapping: {{seconds: inputs.child}}}}
      - {{id: c2, python: "naps:nap",
         input_mapping: {{seconds: inputs.child}}}}
      - {{id: c3, python: "naps:nap",
         input_mapping: {{seconds: inputs.child}}}}
      - id: c4
        python: "naps:nap"
        input_mapping: {{seconds: inputs.child}}{cache}
  - id: side
    python: "naps:nap"
    input_mapping: {{seconds: inputs.long}}
  - id: final
    python: "naps:nap"
    dependencies: [fan, side]
    input_mapping: {{seconds: inputs.short}}
"""


NAPS = """\
import time


def nap(seconds):
    time.sleep(float(seconds))
    return {"slept": float(seconds)}
"""


def flowctl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "flowctl", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def _write(path: Path, *, limit: int = 2, cache: bool = False) -> Path:
    text = SPEC.format(limit=limit, cache="\n        cache: {key: c4}" if cache else "")
    path.write_text(text)
    (path.parent / "naps.py").write_text(NAPS)
    return path


def _run(spec: Path, state: Path) -> None:
    done = flowctl("run", spec, "--state-dir", state, "--no-progress", cwd=spec.parent)
    if done.returncode != 0:
        raise SystemExit(f"flowctl run failed:\n{done.stdout}{done.stderr}")


def _durations(state: Path) -> list[float]:
    lines = (state / "history.jsonl").read_text().splitlines()
    return [json.loads(line)["duration"] for line in lines]


def _gain(before: list[float], after: list[float]) -> float:
    return 100.0 * (1 - statistics.median(after) / statistics.median(before))


def _advice(spec: Path, state: Path) -> dict[str, dict[str, Any]]:
    done = flowctl(
        "optimize",
        state / "history.jsonl",
        *("--spec", spec, "--format", "json", "--top", "20"),
        cwd=spec.parent,
    )
    if done.returncode != 0:
        raise SystemExit(f"flowctl optimize failed:\n{done.stderr}")
    return {r["id"]: r for r in json.loads(done.stdout)["recommendations"]}


def measure(tmp_path: Path) -> list[tuple[str, float, float]]:
    """(recommendation, predicted %, measured %) for the two changes optimize proposes."""
    spec = _write(tmp_path / "fanout.yaml")
    state = tmp_path / "state"
    for _ in range(RUNS):
        _run(spec, state)
    base = _durations(state)
    advice = _advice(spec, state)

    # Concurrency: the children queue for the two slots; the replay counts them.
    concurrency = advice["concurrency:max_parallel_steps"]
    proposed = concurrency["specific_changes"][0]["value"]
    if proposed != 5:  # side and the four children at once
        raise SystemExit(f"optimize proposed max_parallel_steps {proposed}, not 5")
    raised = tmp_path / "raised"
    raised.mkdir()
    raised_spec = _write(raised / "fanout.yaml", limit=proposed)
    for _ in range(2):
        _run(raised_spec, raised / "state")
    measured = _gain(base, _durations(raised / "state"))
    results = [("concurrency", concurrency["expected_improvement"], measured)]

    # Caching c4: a hit saves its time only where it was on the longest chain.
    caching = advice["caching:c4"]  # c1 to c3 get the same advice
    cached = tmp_path / "cached"
    cached.mkdir()
    cached_spec = _write(cached / "fanout.yaml", cache=True)
    for _ in range(3):  # the first run stores c4's outputs, the next two hit
        _run(cached_spec, cached / "state")
    measured = _gain(base, _durations(cached / "state")[1:])
    results.append(("caching c4", caching["expected_improvement"], measured))
    return results


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(Path(tmp))
    ok = True
    for name, predicted, measured in results:
        within = abs(predicted - measured) <= TOLERANCE
        ok = ok and within
        verdict = "ok" if within else f"MISSED (over {TOLERANCE} points)"
        print(f"{name}: predicted {predicted:.1f}%, measured {measured:.1f}%  {verdict}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
