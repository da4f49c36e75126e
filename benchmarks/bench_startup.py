"""Start-up cost of the command line, measured in one run against a bare typer app.

  help      `flowctl --help` (the installed console script) vs `python bare.py --help`, a
            two-command typer app; median of --runs each, interleaved. Ratio must be <= 1.5.
  imports   importing flowctl.cli must not import jsonschema, networkx, jinja2 or httpx
            (checked in a fresh interpreter); also lists what `validate` of a small spec
            imports, for information.
  validate  `flowctl validate examples/hello.yaml`, median wall time (target < 0.35 s).

Usage: .venv/bin/python benchmarks/bench_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOWCTL = Path(sys.executable).parent / "flowctl"
HELLO = ROOT / "examples" / "hello.yaml"
HEAVY = ("jsonschema", "networkx", "jinja2", "httpx")
MAX_HELP_RATIO = 1.5
VALIDATE_TARGET = 0.35

BARE_APP = '''\
import typer

app = typer.Typer(add_completion=False)


@app.command()
def hello(name: str) -> None:
    """Say hello."""
    print(f"hello {name}")


@app.command()
def bye(name: str) -> None:
    """Say goodbye."""
    print(f"bye {name}")


if __name__ == "__main__":
    app()
'''

PROBE = """\
import json, sys
{setup}
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - started


def heavy_modules(setup: str) -> list[str]:
    code = PROBE.format(setup=setup, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    found: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    failures: list[str] = []

    imported = heavy_modules("import flowctl.cli")
    print(f"imports  flowctl.cli pulls in: {imported or 'none of ' + ', '.join(HEAVY)}")
    if imported:
        failures.append(f"importing flowctl.cli imports {', '.join(imported)}")
    validate_setup = (
        "from pathlib import Path\n"
        "from flowctl.commands.validate import check_file\n"
        f"check_file(Path({str(HELLO)!r}))"
    )
    print(f"imports  validate of hello.yaml pulls in: {heavy_modules(validate_setup) or 'none'}")

    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare.py"
        bare.write_text(BARE_APP)
        ours_cmd = [str(FLOWCTL), "--help"]
        bare_cmd = [sys.executable, str(bare), "--help"]
        for command in (ours_cmd, bare_cmd):
            wall(command)  # warm the file cache and .pyc files
        ours, theirs = [], []
        for _ in range(args.runs):
            ours.append(wall(ours_cmd))
            theirs.append(wall(bare_cmd))
    ours_median, bare_median = statistics.median(ours), statistics.median(theirs)
    ratio = ours_median / bare_median
    print(
        f"help     flowctl --help {ours_median * 1000:6.1f} ms, bare typer app "
        f"{bare_median * 1000:6.1f} ms, ratio {ratio:.2f} (limit {MAX_HELP_RATIO})"
    )
    if ratio > MAX_HELP_RATIO:
        failures.append(f"--help ratio {ratio:.2f} > {MAX_HELP_RATIO}")

    validate_cmd = [str(FLOWCTL), "validate", str(HELLO)]
    wall(validate_cmd)
    validate_median = statistics.median(wall(validate_cmd) for _ in range(args.runs))
    print(
        f"validate flowctl validate examples/hello.yaml {validate_median * 1000:6.1f} ms "
        f"(target < {VALIDATE_TARGET * 1000:.0f} ms)"
    )
    if validate_median > VALIDATE_TARGET:
        failures.append(f"validate took {validate_median:.3f} s > {VALIDATE_TARGET} s")

    for failure in failures:
        print(f"FAIL: {failure}")
    if not failures:
        print("PASS")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
