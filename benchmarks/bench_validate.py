"""How long `flowctl validate` takes on a 10,000-step workflow, stage by stage.

The spec is a random DAG (each step depends on up to 3 of the 50 steps before it) with a
parallel container and a for_each loop every 500 steps, retry policies, timeouts and output
mappings that later steps read, and a template in every step (most read a dependency's
status, so the expression checks parse and follow every one of them).
Measured, each the median of --repeat runs in this process:
  yaml     flowctl.spec.yamlload.load_yaml
  schema   flowctl.spec.schema.schema_problems (the compiled schema)
  build    flowctl.spec.build.build_workflow
  graph    flowctl.graph.check_workflow
  total    flowctl.spec.load.validate_path, end to end (target < 2 s wall)
plus jsonschema's own Draft202012Validator on the same data, for comparison (--jsonschema),
and the peak RSS of the process.

Usage: .venv/bin/python benchmarks/bench_validate.py [--steps 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flowctl.graph import check_workflow
from flowctl.spec.build import build_workflow
from flowctl.spec.load import validate_path
from flowctl.spec.schema import schema_problems, workflow_schema
from flowctl.spec.yamlload import load_yaml

TARGET_SECONDS = 2.0


def generate(n: int, seed: int = 7) -> str:
    """A valid workflow of about `n` steps, nested ones included."""
    rnd = random.Random(seed)
    lines = [
        "name: big-dag",
        "retry_policy: {max_attempts: 2, delay: 1s}",
        "max_parallel_steps: 16",
        "steps:",
    ]
    ids: list[str] = []
    count = 0
    while count < n:
        sid = f"s{count}"
        window = ids[-50:]
        deps = rnd.sample(window, k=min(len(window), rnd.randint(1, 3))) if window else []
        lines.append(f"  - id: {sid}")
        if deps:
            lines.append(f"    dependencies: [{', '.join(deps)}]")
        if count % 500 == 7:
            lines += ["    type: parallel", "    max_concurrency: 4", "    parallel_steps:"]
            lines += [
                f"      - {{id: {sid}_p{j}, run: 'echo {{{{ run.id }}}}', timeout: 30s}}"
                for j in range(5)
            ]
            count += 5
        elif count % 500 == 13:
            lines += [
                "    type: loop",
                "    loop:",
                "      for_each: [1, 2, 3]",
                "      max_concurrency: 2",
                "      steps:",
                f"        - {{id: {sid}_item, run: 'echo {{{{ item }}}}'}}",
            ]
            count += 1
        elif count % 10 == 0:
            # A value that a later step reads, so the graph checks have data flow to follow.
            lines += [
                f'    run: echo v={count} >> "$FLOWCTL_OUTPUT"',
                '    env: {RUN: "{{ run.id }}"}',
                f"    output_mapping: {{result.v: workflow.v{count}}}",
            ]
        elif count % 10 == 1 and count > 1:
            lines += [
                f"    run: echo {{{{ workflow.v{count - 1} }}}}",
                "    timeout: 30s",
                "    retry_policy: {max_attempts: 3, backoff_strategy: exponential}",
            ]
        elif deps:
            lines += [
                f"    run: echo {{{{ steps.{deps[-1]}.status }}}}",
                "    timeout: 1m",
            ]
        else:
            lines += [f"    run: echo {sid} {{{{ run.id }}}}", "    timeout: 1m"]
        ids.append(sid)
        count += 1
    return "\n".join(lines) + "\n"


CPU: dict[str, float] = {}


def median_time(fn: Callable[[], Any], repeat: int, label: str = "") -> tuple[float, Any]:
    """Median wall time of `repeat` calls; the median CPU time goes to CPU[label].

    Both are printed: on a busy machine wall time includes waiting for a core, CPU time
    does not.
    """
    times, cpu, result = [], [], None
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    CPU[label] = statistics.median(cpu)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jsonschema", action="store_true", help="also time jsonschema")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "big.yaml"
        spec.write_text(generate(args.steps))
        size = spec.stat().st_size

        t_yaml, (doc, raw) = median_time(lambda: load_yaml(spec), args.repeat, "yaml")
        t_schema, found = median_time(lambda: schema_problems(doc), args.repeat, "schema")
        assert found == [], found[:3]
        sha = hashlib.sha256(raw).hexdigest()
        t_build, workflow = median_time(lambda: build_workflow(doc, sha), args.repeat, "build")
        t_graph, graph_found = median_time(lambda: check_workflow(workflow), args.repeat, "graph")
        t_total, validation = median_time(lambda: validate_path(spec), args.repeat, "total")
        steps = sum(1 for _ in workflow.walk())

        print(f"spec: {steps:,} steps, {size / 1024:,.0f} KiB, median of {args.repeat} runs")
        for label, seconds in [
            ("yaml", t_yaml),
            ("schema", t_schema),
            ("build", t_build),
            ("graph", t_graph),
            ("total", t_total),
        ]:
            print(f"  {label:<8} {seconds:7.3f} s wall {CPU[label]:7.3f} s cpu")
        errors = [p for p in validation.problems if p.severity.value == "error"]
        print(f"  problems: errors {len(errors)}, warnings {len(graph_found) - len(errors)}")
        if args.jsonschema:
            import jsonschema

            validator = jsonschema.Draft202012Validator(workflow_schema())
            t_ref, _ = median_time(lambda: list(validator.iter_errors(doc.data)), 1, "ref")
            print(f"  jsonschema (for comparison) {t_ref:7.3f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"  peak RSS {peak:,.0f} MiB")
    ok = t_total < TARGET_SECONDS and not errors
    print(
        f"{'PASS' if ok else 'FAIL'}: total {t_total:.2f} s wall, {CPU['total']:.2f} s cpu "
        f"(target < {TARGET_SECONDS} s)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
