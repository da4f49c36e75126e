"""Whole-process comparison of `flowctl` with make, go-task and doit on the same workloads.

    .venv/bin/python benchmarks/peers.py [--runs 7] [--w5-runs 20] [--big-runs 3] [--only W1,W5]
        [--baseline GIT_REF] [--installed]

Each workload is written as a flowctl YAML, a Makefile, a Taskfile.yml and a dodo.py under
benchmarks/out/peers/ (git-ignored), and each tool is timed as a whole process, exec to
exit, in one interleaved run (every repetition runs every tool once, in a rotating order, so
drift of a shared machine hits all alike). Shell steps run `/bin/true` or `sleep` in every
tool: go-task runs shell builtins such as `true` inside its own interpreter without spawning
a process, and the comparison must be spawn against spawn.

    W1    201 `/bin/true` steps: 200 independent, then one join; parallelism 8
    W2    200 `/bin/true` steps in a chain
    W3    24 `sleep` steps, critical path 1.300 s; parallelism 8
    W4    a 10-step chain: dry run (flowctl run --dry-run, task --list-all, make -n,
          doit list) and `--help`
    W5    1,000 in-process Python no-ops, as a chain and as wide + join (doit -n 1; make
          and go-task have no in-process steps)
    10k   a 10,000-step wide DAG of `/bin/true` (W1's shape), with peak RSS
    growth  flowctl on W1's shape at n = 100, 1,000, 10,000 (linear: t(10k)/t(1k) <= 12)

go-task comes from the PyPI package go-task-bin and doit from doit, installed by this script
into a throwaway virtualenv (benchmarks/out/peers-venv) the first time. The targets are in
issue 8 and printed beside each ratio. flowctl keeps its state (.flowctl/ in the workload's
directory, with the run history) between repetitions, as it does for a user running the same
workflow again. The directory is made up front: flowctl looks for the nearest .flowctl up to
the git repository's root, and without its own the workloads would share this checkout's.

With --baseline REF, flowctl as of that git commit is installed (with the dependencies its
pyproject.toml resolves to) into benchmarks/out/baseline-venv and timed as one more
contender, "flowctl@REF", interleaved with the others: a before/after under the same load.
With --installed, this checkout is timed installed the same way (benchmarks/out/current-venv)
instead of through the development venv's editable install.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
WORK = OUT / "peers"
VENV = OUT / "peers-venv"
FLOWCTL = str(Path(sys.executable).parent / "flowctl")
PEER_PACKAGES = ("go-task-bin==3.54.0", "doit==0.37.0")
JOBS = 8
# The tools run as a user runs them: Python with its bytecode cache (an installed package
# has .pyc files; with PYTHONDONTWRITEBYTECODE set, every run would compile flowctl's and
# doit's modules from source again). The warm-up run of each tool writes the cache.
TOOL_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

# ---------------------------------------------------------------------------------------
# Workload shapes: a list of (step id, dependencies, shell command or None for Python).


@dataclass(frozen=True)
class Step:
    id: str
    deps: tuple[str, ...] = ()
    command: str | None = None  # None: an in-process Python no-op


def wide(n: int, command: str | None = "/bin/true") -> list[Step]:
    """n-1 independent steps, then one join that depends on all of them."""
    leaves = [Step(f"s{i}", (), command) for i in range(n - 1)]
    return [*leaves, Step("join", tuple(s.id for s in leaves), command)]


def chain(n: int, command: str | None = "/bin/true") -> list[Step]:
    return [Step(f"s{i}", (f"s{i - 1}",) if i else (), command) for i in range(n)]


def sleepers() -> tuple[list[Step], float]:
    """24 sleep steps: a 4-step chain of 1.3 s and 20 side steps of 0.1 s that fit beside
    it in parallelism 8 (they start after c0 and end by 0.6 s). Returns (steps, critical
    path in seconds)."""
    lengths = (0.3, 0.4, 0.3, 0.3)
    steps = [
        Step(f"c{i}", (f"c{i - 1}",) if i else (), f"sleep {t}") for i, t in enumerate(lengths)
    ]
    steps += [Step(f"side{i}", ("c0",), "sleep 0.1") for i in range(20)]
    return steps, sum(lengths)


# ---------------------------------------------------------------------------------------
# Writers: the same steps for each tool.


def flowctl_yaml(name: str, steps: Sequence[Step]) -> str:
    lines = [f"name: {name}", f"max_parallel_steps: {JOBS}", "steps:"]
    for s in steps:
        lines.append(f"  - id: {s.id}")
        if s.command is None:
            lines.append("    python: noops:noop")
        else:
            lines.append(f"    run: {s.command}")
        if s.deps:
            lines.append(f"    dependencies: [{', '.join(s.deps)}]")
    return "\n".join(lines) + "\n"


def makefile(steps: Sequence[Step]) -> str:
    goal = steps[-1].id
    lines = [f".PHONY: all {' '.join(s.id for s in steps)}", f"all: {goal}", ""]
    for s in steps:
        lines += [f"{s.id}: {' '.join(s.deps)}".rstrip(), f"\t@{s.command}", ""]
    return "\n".join(lines)


def taskfile(steps: Sequence[Step]) -> str:
    # run: once, as make and doit do: a task reached by several paths runs one time
    lines = ["version: '3'", "run: once", "tasks:"]
    for s in steps:
        lines.append(f"  {s.id}:")
        if s.deps:
            lines.append(f"    deps: [{', '.join(s.deps)}]")
        lines += ["    cmds:", f"      - {s.command}", "    silent: true"]
    return "\n".join(lines) + "\n"


def dodo(steps: Sequence[Step]) -> str:
    """A dodo.py with one task per step. Shell commands are list actions (exec'd, no shell),
    Python steps call `noop`."""
    goal = steps[-1].id
    lines = [
        "import shlex",
        "",
        f"DOIT_CONFIG = {{'default_tasks': [{goal!r}], 'verbosity': 0}}",
        "",
        "",
        "def noop():",
        "    return {}",
        "",
        "",
        f"STEPS = {[(s.id, list(s.deps), s.command) for s in steps]!r}",
        "",
        "",
        "def task_step():",
        "    for sid, deps, command in STEPS:",
        "        action = (noop,) if command is None else shlex.split(command)",
        "        yield {'basename': sid, 'actions': [action], 'task_dep': deps,",
        "               'verbosity': 0}",
    ]
    return "\n".join(lines) + "\n"


def write_workload(name: str, steps: Sequence[Step], *, peers: bool = True) -> Path:
    directory = WORK / name
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / ".flowctl").mkdir()
    (directory / "flow.yaml").write_text(flowctl_yaml(name, steps))
    (directory / "noops.py").write_text("def noop():\n    return {}\n")
    if peers:
        if all(s.command is not None for s in steps):
            (directory / "Makefile").write_text(makefile(steps))
            (directory / "Taskfile.yml").write_text(taskfile(steps))
        (directory / "dodo.py").write_text(dodo(steps))
    return directory


# ---------------------------------------------------------------------------------------
# Timing.


@dataclass
class Sample:
    seconds: float
    max_rss_mb: float


@dataclass
class Contender:
    tool: str
    command: list[str]
    cwd: Path
    samples: list[Sample] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=lambda: TOOL_ENV)

    def once(self) -> None:
        started = time.perf_counter()
        proc = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            sys.exit(
                f"{self.tool} failed ({proc.returncode}) in {self.cwd}: {' '.join(self.command)}"
                f"\n{err.decode(errors='replace')[-2000:]}"
            )
        self.samples.append(Sample(took, usage.ru_maxrss / 1024))

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def worst(self) -> float:
        return max(s.seconds for s in self.samples)

    @property
    def rss(self) -> float:
        return max(s.max_rss_mb for s in self.samples)


def interleave(contenders: Sequence[Contender], runs: int, warmup: int = 1) -> None:
    """Every repetition runs each contender once; the order rotates between repetitions.
    The warm-up runs (page cache, .pyc, doit's database) are not counted."""
    for c in contenders:
        for _ in range(warmup):
            c.once()
        c.samples.clear()
    for rep in range(runs):
        k = rep % len(contenders)
        for c in [*contenders[k:], *contenders[:k]]:
            c.once()


# ---------------------------------------------------------------------------------------
# Tools.


def peer_bin(name: str) -> str:
    return str(VENV / "bin" / name)


def ensure_peers() -> None:
    if (VENV / "bin" / "task").exists() and (VENV / "bin" / "doit").exists():
        return
    print(f"installing {', '.join(PEER_PACKAGES)} into {VENV} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run(
        [peer_bin("python"), "-m", "pip", "install", "-q", *PEER_PACKAGES],
        check=True,
    )


def tool_version(command: list[str]) -> str:
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).strip().splitlines()[0]


# (label, console script) of each flowctl timed: this checkout, and --baseline's.
FLOWCTLS: list[tuple[str, str]] = [("flowctl", FLOWCTL)]
BASELINE = OUT / "baseline-venv"


def ensure_baseline(ref: str) -> str:
    """Install flowctl as of git `ref` into its own venv; returns the contender's label."""
    label = f"flowctl@{ref}"
    stamp = BASELINE / "ref"
    if not (stamp.exists() and stamp.read_text() == ref):
        print(f"installing flowctl {ref} into {BASELINE} ...", flush=True)
        source = OUT / "baseline-src"
        shutil.rmtree(source, ignore_errors=True)
        source.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", ref], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(BASELINE)], check=True)
        pip = [str(BASELINE / "bin" / "python"), "-m", "pip", "install", "-q", str(source)]
        subprocess.run(pip, check=True)
        stamp.write_text(ref)
    FLOWCTLS.append((label, str(BASELINE / "bin" / "flowctl")))
    return label


def flowctls(directory: Path, *args: str) -> list[Contender]:
    """Every flowctl timed, each with `args` (default: run flow.yaml)."""
    argv = list(args) or ["run", "flow.yaml"]
    return [Contender(label, [script, *argv], directory) for label, script in FLOWCTLS]


def install_current() -> None:
    """Time this checkout installed as a user installs it (not the editable install of the
    development venv, whose import hook costs every start-up some milliseconds)."""
    venv = OUT / "current-venv"
    print(f"installing this checkout into {venv} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(ROOT)]
    subprocess.run(pip, check=True)
    FLOWCTLS[0] = ("flowctl", str(venv / "bin" / "flowctl"))


def flowctl_run(directory: Path, *extra: str) -> Contender:
    return Contender("flowctl", [FLOWCTLS[0][1], "run", "flow.yaml", *extra], directory)


def make_run(directory: Path, *extra: str) -> Contender:
    return Contender("make", ["make", "-s", f"-j{JOBS}", *extra], directory)


def task_run(directory: Path, goal: str, *extra: str) -> Contender:
    return Contender("go-task", [peer_bin("task"), "-C", str(JOBS), *extra, goal], directory)


def doit_run(directory: Path, jobs: int = JOBS) -> Contender:
    parallel = ["-n", str(jobs), "-P", "thread"] if jobs > 1 else ["-n", "1"]
    return Contender("doit", [peer_bin("doit"), *parallel], directory)


# ---------------------------------------------------------------------------------------
# Report.


@dataclass
class Row:
    workload: str
    cells: dict[str, str]
    ratio: str
    target: str
    verdict: str


def seconds(value: float) -> str:
    return f"{value:.3f} s"


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def shell_rows(
    label: str, name: str, steps: list[Step], runs: int, *, limit: float = 1.5
) -> tuple[Row, dict[str, Contender]]:
    d = write_workload(name, steps)
    goal = steps[-1].id
    cs = [*flowctls(d), make_run(d), task_run(d, goal), doit_run(d)]
    interleave(cs, runs)
    by = {c.tool: c for c in cs}
    ratio = by["flowctl"].median / by["go-task"].median
    row = Row(
        label,
        {c.tool: seconds(c.median) for c in cs},
        f"{ratio:.2f}x go-task",
        f"<= {limit}x go-task",
        verdict(ratio <= limit),
    )
    return row, by


def w3_row(runs: int, help_seconds: float) -> Row:
    steps, critical = sleepers()
    d = write_workload("w3", steps)
    # Make's and go-task's goal must reach every step: a final join is not part of W3, so
    # they are given every leaf as a goal.
    leaves = ["c3", *[s.id for s in steps if s.id.startswith("side")]]
    cs = [
        *flowctls(d),
        Contender("make", ["make", "-s", f"-j{JOBS}", *leaves], d),
        Contender("go-task", [peer_bin("task"), "-C", str(JOBS), "-p", *leaves], d),
        Contender("doit", [peer_bin("doit"), "-n", str(JOBS), "-P", "thread", *leaves], d),
    ]
    interleave(cs, runs)
    by = {c.tool: c for c in cs}
    allowed = critical + help_seconds + 0.050
    took = by["flowctl"].median
    return Row(
        f"W3: 24 `sleep` steps, critical path {critical:.3f} s",
        {c.tool: seconds(c.median) for c in cs},
        f"+{(took - critical) * 1000:.0f} ms over the path "
        f"(go-task +{(by['go-task'].median - critical) * 1000:.0f} ms)",
        f"<= path + --help ({help_seconds * 1000:.0f} ms) + 50 ms = {allowed:.3f} s",
        verdict(took <= allowed),
    )


def w4_rows(runs: int) -> tuple[list[Row], float]:
    d = write_workload("w4", chain(10))
    dry = [
        *flowctls(d, "run", "--dry-run", "flow.yaml"),
        Contender("make", ["make", "-n", "s9"], d),
        Contender("go-task", [peer_bin("task"), "--list-all"], d),
        Contender("doit", [peer_bin("doit"), "list"], d),
    ]
    helps = [
        *flowctls(d, "--help"),
        Contender("make", ["make", "--help"], d),
        Contender("go-task", [peer_bin("task"), "--help"], d),
        Contender("doit", [peer_bin("doit"), "help"], d),
    ]
    interleave([*dry, *helps], runs)
    rows = []
    for label, group, limit, what in (
        ("W4: dry run / list of a 10-step chain", dry, 2.0, "go-task --list-all"),
        ("W4: `--help`", helps, 1.2, "go-task"),
    ):
        by = {c.tool: c for c in group}
        ratio = by["flowctl"].median / by["go-task"].median
        rows.append(
            Row(
                label,
                {c.tool: seconds(c.median) for c in group},
                f"{ratio:.2f}x {what}",
                f"<= {limit}x",
                verdict(ratio <= limit),
            )
        )
    return rows, {c.tool: c for c in helps}["flowctl"].median


def w5_rows(runs: int) -> list[Row]:
    rows = []
    for label, name, steps in (
        ("W5: 1,000 in-process Python no-ops, chain", "w5-chain", chain(1000, None)),
        ("W5: 1,000 in-process Python no-ops, wide + join", "w5-wide", wide(1000, None)),
    ):
        d = write_workload(name, steps)
        cs = [*flowctls(d), doit_run(d, jobs=1)]
        interleave(cs, runs)
        f, doit = cs[0], cs[-1]
        median_ratio = f.median / doit.median
        worst_ratio = f.worst / doit.median
        rows.append(
            Row(
                label,
                {
                    **{c.tool: f"{seconds(c.median)} (worst {seconds(c.worst)})" for c in cs},
                    "doit": f"{seconds(doit.median)} (`-n 1`)",
                },
                f"{median_ratio:.2f}x doit; worst {worst_ratio:.2f}x",
                "median <= 1.0x, worst <= 1.5x doit's median",
                verdict(median_ratio <= 1.0 and worst_ratio <= 1.5),
            )
        )
    return rows


def big_rows(runs: int, small_runs: int) -> list[Row]:
    """The 10,000-step wide DAG against go-task and make (with flowctl's peak RSS), and the
    growth of flowctl's time from 100 to 10,000 steps of the same shape."""
    d = write_workload("wide-10k", wide(10_000))
    cs = [*flowctls(d), make_run(d), task_run(d, "join")]
    interleave(cs, runs)
    by = {c.tool: c for c in cs}
    ratio = by["flowctl"].median / by["go-task"].median
    rss = by["flowctl"].rss
    rows = [
        Row(
            "10,000-step wide DAG of `/bin/true`",
            {
                **{c.tool: seconds(c.median) for c in cs},
                **{
                    c.tool: f"{seconds(c.median)}, peak RSS {c.rss:.0f} MB"
                    for c in cs
                    if c.tool.startswith("flowctl")
                },
            },
            f"{ratio:.2f}x go-task",
            "<= 1.5x go-task, RSS < 300 MB",
            verdict(ratio <= 1.5 and rss < 300),
        )
    ]
    times = {10_000: by["flowctl"].median}
    for n in (100, 1000):
        g = flowctl_run(write_workload(f"wide-{n}", wide(n), peers=False))
        interleave([g], small_runs)
        times[n] = g.median
    growth = times[10_000] / times[1000]
    rows.append(
        Row(
            "growth, W1 shape: flowctl at n = 100 / 1,000 / 10,000",
            {"flowctl": " / ".join(seconds(times[n]) for n in (100, 1000, 10_000))},
            f"t(10k)/t(1k) = {growth:.1f}",
            "<= 12",
            verdict(growth <= 12),
        )
    )
    return rows


def print_table(rows: Sequence[Row]) -> None:
    tools = ("make", "go-task", "doit", *(label for label, _ in FLOWCTLS))
    print()
    print("| workload | " + " | ".join(tools) + " | ratio | target | |")
    print("|---|" + "---|" * (len(tools) + 3))
    for r in rows:
        cells = " | ".join(r.cells.get(t, "-") for t in tools)
        print(f"| {r.workload} | {cells} | {r.ratio} | {r.target} | {r.verdict} |")


def machine() -> str:
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {load}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="repetitions of W1-W4")
    parser.add_argument("--w5-runs", type=int, default=20, help="repetitions of W5")
    parser.add_argument("--big-runs", type=int, default=3, help="repetitions of the 10k DAG")
    parser.add_argument("--only", default="W1,W2,W3,W4,W5,10k", help="comma-separated")
    parser.add_argument("--baseline", metavar="GIT_REF", help="also time flowctl as of REF")
    parser.add_argument(
        "--installed", action="store_true", help="time this checkout installed, not editable"
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    ensure_peers()
    if args.installed:
        install_current()
    if args.baseline:
        ensure_baseline(args.baseline)
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine()}\n"
        f"make: {tool_version(['make', '--version'])}; "
        f"go-task: {tool_version([peer_bin('task'), '--version'])}; "
        f"doit: {tool_version([peer_bin('doit'), '--version'])}; "
        f"{'; '.join(f'{label}: {script}' for label, script in FLOWCTLS)}\n"
        f"runs: {args.runs} (W1-W4), {args.w5_runs} (W5), {args.big_runs} (10k)",
        flush=True,
    )
    steps: list[tuple[str, Callable[[], list[Row]]]] = []
    rows: list[Row] = []
    help_seconds = 0.0

    def w4() -> list[Row]:
        nonlocal help_seconds
        got, help_seconds = w4_rows(args.runs)
        return got

    steps = [
        (
            "W1",
            lambda: [
                shell_rows("W1: 201 `/bin/true` steps, wide + join", "w1", wide(201), args.runs)[0]
            ],
        ),
        (
            "W2",
            lambda: [
                shell_rows("W2: 200 `/bin/true` steps, chain", "w2", chain(200), args.runs)[0]
            ],
        ),
        ("W4", w4),
        ("W3", lambda: [w3_row(args.runs, help_seconds)]),
        ("W5", lambda: w5_rows(args.w5_runs)),
        ("10k", lambda: big_rows(args.big_runs, args.runs)),
    ]
    if "W3" in only and "W4" not in only:
        only.add("W4")  # W3's target needs flowctl's --help time
    for name, measure in steps:
        if name in only:
            started = time.perf_counter()
            got = measure()
            rows += got
            for r in got:
                print(f"  {r.workload}: {r.cells} -> {r.ratio} [{r.verdict}]", flush=True)
            print(f"  ({name} took {time.perf_counter() - started:.0f} s)", flush=True)
    print_table(rows)
    missed = [r.workload for r in rows if r.verdict != "ok"]
    print(f"\n{len(rows) - len(missed)} of {len(rows)} targets met", end="")
    print(f"; missed: {'; '.join(missed)}" if missed else "")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
