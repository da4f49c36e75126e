"""How fast `resume` gets back to work: a 1,000-step chain whose last step failed.

    .venv/bin/python benchmarks/bench_resume.py [--steps N] [--repeat K]

Target (issue 4): with 999 steps completed, resume starts the last step in under 1 s.
The chain is no-op python steps; the last one fails until a flag file exists. After the
failed run the flag is created and the run resumed, and the time is measured from the
start of the resume to the last step's `step_started` timestamp in the audit log:

- CLI: from launching `python -m flowctl resume RUN_ID` (what a user waits for, Python
  start-up included) — and, of that, the part inside flowctl: from the resumed
  `run_started` event to the last step's `step_started`;
- API: from calling `flowctl.api.resume_workflow` in a warm process.

Each measurement is repeated on a fresh failed run; the median is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET = 1.0  # seconds
FUNCS = """\
from pathlib import Path


async def noop():
    return {}


async def gate(flag):
    if not Path(flag).exists():
        raise RuntimeError(f"{flag} does not exist yet")
    return {"ok": True}
"""


def chain_spec(n: int, flag: Path) -> str:
    lines = ["name: resume-chain", "optimization_enabled: false", "steps:"]
    for i in range(n - 1):
        lines += [f"  - id: s{i}", "    python: bench_resume_funcs:noop"]
        if i:
            lines.append(f"    dependencies: [s{i - 1}]")
    lines += [
        f"  - id: s{n - 1}",
        "    python: bench_resume_funcs:gate",
        f"    input_mapping: {{flag: {json.dumps(repr(str(flag)))}}}",
    ]
    if n > 1:
        lines.append(f"    dependencies: [s{n - 2}]")
    return "\n".join(lines) + "\n"


def epoch(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def last_step_started(audit: Path, last: str) -> tuple[float, float]:
    """(ts of the resumed run_started, ts of the last step's step_started after it)."""
    from flowctl.state.audit import read_journal

    events = read_journal(audit).events
    resumed = max(i for i, e in enumerate(events) if e.event == "run_started")
    started = next(e for e in events[resumed:] if e.event == "step_started" and e.step == last)
    return epoch(events[resumed].ts), epoch(started.ts)


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "true", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "flowctl", *args, "--no-progress"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def failed_run(work: Path, n: int, tag: str) -> tuple[Path, Path, str]:
    """A fresh failed run of the chain: (state dir, flag file, run id)."""
    flag, state = work / f"flag-{tag}", work / f"state-{tag}"
    spec = work / "chain.yaml"
    spec.write_text(chain_spec(n, flag))
    done = cli("run", str(spec), "--state-dir", str(state), "--output", "json", cwd=work)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    run_id = json.loads(done.stdout)["run_id"]
    return state, flag, run_id


def bench_cli(work: Path, n: int, repeat: int) -> None:
    waits, inside, whole = [], [], []
    for k in range(repeat):
        state, flag, run_id = failed_run(work, n, f"cli{k}")
        flag.touch()
        began = time.time()
        done = cli("resume", run_id, "--state-dir", str(state), cwd=work)
        whole.append(time.time() - began)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        audit = state / "runs" / run_id / "audit.jsonl"
        resumed_at, last_at = last_step_started(audit, f"s{n - 1}")
        waits.append(last_at - began)
        inside.append(last_at - resumed_at)
    wait = statistics.median(waits)
    print(
        f"CLI, {n}-step chain, {n - 1} done: `flowctl resume` start -> last step started "
        f"{wait * 1000:.0f} ms (target < {TARGET * 1000:.0f} ms: "
        f"{'ok' if wait < TARGET else 'MISSED'}); inside flowctl (run_started -> "
        f"step_started) {statistics.median(inside) * 1000:.0f} ms; whole command "
        f"{statistics.median(whole) * 1000:.0f} ms (medians of {repeat})"
    )


def bench_api(work: Path, n: int, repeat: int) -> None:
    import flowctl.api

    resume: Callable[..., object] | None = getattr(flowctl.api, "resume_workflow", None)
    if resume is None:
        print("API: flowctl.api has no resume_workflow; measured through the CLI only")
        return
    sys.path.insert(0, str(work))
    waits = []
    for k in range(repeat):
        state, flag, run_id = failed_run(work, n, f"api{k}")
        flag.touch()
        began = time.time()
        result = resume(run_id, state_dir=state)
        assert getattr(result, "ok", False), getattr(result, "error", result)
        _, last_at = last_step_started(state / "runs" / run_id / "audit.jsonl", f"s{n - 1}")
        waits.append(last_at - began)
    wait = statistics.median(waits)
    print(
        f"API, {n}-step chain, {n - 1} done: resume_workflow() -> last step started "
        f"{wait * 1000:.0f} ms (target < {TARGET * 1000:.0f} ms: "
        f"{'ok' if wait < TARGET else 'MISSED'}; median of {repeat})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1000, help="length of the chain")
    parser.add_argument("--repeat", type=int, default=3, help="measurements of each kind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "bench_resume_funcs.py").write_text(FUNCS)
        bench_cli(work, args.steps, args.repeat)
        bench_api(work, args.steps, args.repeat)


if __name__ == "__main__":
    main()
