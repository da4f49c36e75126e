"""Up-to-date checks against go-task's `method: checksum`, whole process (exec to exit).

Three measures, each on a tree generated in a temporary directory:
  noop-200    a 200-file compile DAG (200 compiles, an archive, a link), everything up to
              date: `flowctl run -q` vs `task -s link`; target ≤ 1.5x go-task
  one-change  one source changed: which steps run (only its compile and the steps after it)
  noop-10000  one step over 10,000 unchanged source files: target ≤ 1.5x go-task
"Compiles" copy the source (`cp`): what is measured is the checking, not a compiler.
go-task comes from PyPI's `go-task-bin` in a throwaway virtualenv (--task PATH, or
$GO_TASK, or `task` on PATH). Times are medians of --repeat interleaved runs (flowctl,
go-task, flowctl, ...) after a warm-up of each.

With --installed, flowctl is timed installed from a wheel of this checkout into a
throwaway virtualenv (benchmarks/out/current-venv, by peers.py's install_current), not
through the development venv's editable install, whose import hook costs every start
some milliseconds; its `flowctl` command is timed, as a user runs it.

Usage: .venv/bin/python benchmarks/bench_files.py [--repeat 9] [--task PATH] [--installed]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FLOWCTL = [sys.executable, "-m", "flowctl"]
TARGET = 1.5


def _env() -> dict[str, str]:
    env = {**os.environ, "CI": "true", "NO_COLOR": "1"}
    if FLOWCTL[0] == sys.executable:  # the checkout itself; an installed one needs no path
        env["PYTHONPATH"] = str(REPO)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: modules load from bytecode
    return env


def _install() -> None:
    """Time flowctl installed from a wheel of this checkout (peers.py's venv for it)."""
    import peers  # beside this script

    peers.install_current()
    FLOWCTL[:] = [peers.FLOWCTLS[0][1]]  # the `flowctl` command a user runs


def _time(commands: list[list[str]], cwd: Path, repeat: int) -> list[tuple[float, float]]:
    """Median wall time and median CPU time (user + system, all threads) of each command,
    interleaved: every repetition runs each once, so a shared machine's drift hits all."""
    from interleave import interleaved  # beside this script

    times = interleaved(commands, cwd, repeat, env=_env())
    return [(statistics.median(walls), statistics.median(cpus)) for walls, cpus in times]


def _compile_tree(root: Path, n: int) -> None:
    (root / "src").mkdir(parents=True)
    (root / "obj").mkdir()
    for i in range(n):
        (root / "src" / f"f{i:03d}.c").write_text(f"int f{i}(void) {{ return {i}; }}\n" * 20)
    steps = []
    tasks = ["version: '3'", "tasks:"]
    for i in range(n):
        steps.append(
            f"  - id: c{i:03d}\n    run: cp src/f{i:03d}.c obj/f{i:03d}.o\n"
            f"    sources: [src/f{i:03d}.c]\n    generates: [obj/f{i:03d}.o]\n"
        )
        tasks.append(
            f"  c{i:03d}:\n    method: checksum\n    sources: [src/f{i:03d}.c]\n"
            f"    generates: [obj/f{i:03d}.o]\n    cmds: [cp src/f{i:03d}.c obj/f{i:03d}.o]"
        )
    steps.append(
        '  - id: archive\n    run: cat obj/*.o > lib.a\n    sources: ["obj/*.o"]\n'
        "    generates: [lib.a]\n"
    )
    steps.append(
        "  - id: link\n    run: cp lib.a prog\n    sources: [lib.a]\n    generates: [prog]\n"
    )
    deps = ", ".join(f"c{i:03d}" for i in range(n))
    tasks.append(
        f"  archive:\n    deps: [{deps}]\n    method: checksum\n    sources: ['obj/*.o']\n"
        "    generates: [lib.a]\n    cmds: ['cat obj/*.o > lib.a']"
    )
    tasks.append(
        "  link:\n    deps: [archive]\n    method: checksum\n    sources: [lib.a]\n"
        "    generates: [prog]\n    cmds: [cp lib.a prog]"
    )
    (root / "build.yaml").write_text("name: compile-dag\nsteps:\n" + "".join(steps))
    (root / "Taskfile.yml").write_text("\n".join(tasks) + "\n")


def _wide_tree(root: Path, n: int) -> None:
    for i in range(n):
        folder = root / "src" / f"d{i // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:05d}.c").write_text(f"int f{i}(void) {{ return {i}; }}\n")
    (root / "build.yaml").write_text(
        "name: wide\nsteps:\n  - id: index\n    run: find src -name '*.c' | sort > index.txt\n"
        "    sources: ['src/**/*.c']\n    generates: [index.txt]\n"
    )
    (root / "Taskfile.yml").write_text(
        "version: '3'\ntasks:\n  index:\n    method: checksum\n    sources: ['src/**/*.c']\n"
        "    generates: [index.txt]\n    cmds: [\"find src -name '*.c' | sort > index.txt\"]\n"
    )


def _flowctl_run(root: Path) -> list[str]:
    return [*FLOWCTL, "run", "build.yaml", "--no-progress", "--output", "json"]


def _ran(root: Path) -> set[str]:
    done = subprocess.run(
        _flowctl_run(root), cwd=root, env=_env(), check=True, capture_output=True, text=True
    )
    steps = json.loads(done.stdout)["steps"]
    return {s["id"] for s in steps if not s["up_to_date"]}


def _compare(name: str, root: Path, task: str, target_name: str, repeat: int) -> bool:
    """`flowctl run -q` (quiet: the summary line only) against `task -s` (silent): the
    like-for-like pair, and the verdict. `--no-progress --output json`, which also prints
    the whole report, is timed beside them for reference."""
    subprocess.run([task, "-s", target_name], cwd=root, env=_env(), check=True)
    _ran(root)
    quiet = [*FLOWCTL, "run", "build.yaml", "-q"]
    timed = _time([quiet, [task, "-s", target_name], _flowctl_run(root)], root, repeat)
    (ours, our_cpu), (theirs, their_cpu), (as_json, json_cpu) = timed
    ratio = ours / theirs
    verdict = "PASS" if ratio <= TARGET else f"MISS (target ≤ {TARGET}x)"
    print(
        f"{name}: wall flowctl -q {ours * 1000:.0f} ms, go-task -s {theirs * 1000:.0f} ms: "
        f"{ratio:.2f}x  {verdict}; CPU {our_cpu * 1000:.0f} ms vs {their_cpu * 1000:.0f} ms "
        f"({our_cpu / their_cpu:.2f}x); --output json: wall {as_json * 1000:.0f} ms "
        f"({as_json / theirs:.2f}x), CPU {json_cpu * 1000:.0f} ms"
    )
    return ratio <= TARGET


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--task", default=os.environ.get("GO_TASK") or shutil.which("task"))
    parser.add_argument(
        "--installed", action="store_true", help="time this checkout installed, not editable"
    )
    args = parser.parse_args()
    if not args.task:
        print("go-task not found: pip install go-task-bin in a throwaway venv, pass --task")
        return 2
    if args.installed:
        _install()
    version = subprocess.run([args.task, "--version"], capture_output=True, text=True).stdout
    print(f"go-task {version.strip()}; Python {sys.version.split()[0]}; {os.cpu_count()} cores")
    print(f"flowctl: {' '.join(FLOWCTL)}", flush=True)
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-files-") as tmp:
        root = Path(tmp) / "dag"
        _compile_tree(root, 200)
        ok &= _compare("noop-200", root, args.task, "link", args.repeat)
        changed = root / "src" / "f117.c"
        changed.write_text(changed.read_text() + "int extra;\n")
        ran = _ran(root)
        expected = {"c117", "archive", "link"}
        print(f"one-change: ran {sorted(ran)}  {'PASS' if ran == expected else 'MISS'}")
        ok &= ran == expected
        wide = Path(tmp) / "wide"
        _wide_tree(wide, 10_000)
        ok &= _compare("noop-10000", wide, args.task, "index", args.repeat)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
