"""The step cache through the CLI: hits across runs, ttl, clear, and concurrent runs sharing it."""

from __future__ import annotations

import json

from tests.e2e.kit import Workspace, finish, line_counts, q

COUNT = 'echo "$FLOWCTL_STEP_ID" >> "$COUNTS"'


def squares_spec(ws: Workspace, *, ttl: str | None = None, work: str = "true") -> str:
    ttl_key = f", ttl: {ttl}" if ttl else ""
    return f"""
        name: squares
        inputs:
          n: {{type: integer, default: 3}}
        env: {{COUNTS: {q(ws.path("counts"))}}}
        steps:
          - id: square
            input_mapping: {{n: inputs.n}}
            cache: {{key: "square-{{{{ inputs.n }}}}"{ttl_key}}}
            run: >-
              {COUNT}; {work};
              echo "value=$((FLOWCTL_PARAM_N * FLOWCTL_PARAM_N))" >> "$FLOWCTL_OUTPUT"
            output_mapping: {{result.value: workflow.square}}
          - id: use
            dependencies: [square]
            input_mapping: {{mapped: workflow.square, direct: steps.square.outputs.value}}
            run: 'printf %s/%s "$FLOWCTL_PARAM_MAPPED" "$FLOWCTL_PARAM_DIRECT" > "$FLOWCTL_RUN_ID"'
        """


def used(ws: Workspace, run_id: str) -> str:
    return ws.path(run_id).read_text()


def test_a_cache_hit_across_runs_restores_outputs_without_running(ws: Workspace) -> None:
    spec = ws.spec(squares_spec(ws))
    first = ws.run(spec, "--input", "n=3")
    assert first.code == 0, first.explain()
    assert line_counts(ws.path("counts")) == {"square": 1}
    assert [e.data.get("cached", False) for e in first.run.named("step_completed", "square")] == [
        False
    ]

    hit = ws.run(spec, "--input", "n=3")
    assert hit.code == 0, hit.explain()
    assert line_counts(ws.path("counts")) == {"square": 1}, "a hit does not run the step"
    assert used(ws, hit.run.run_id) == "9/9"
    done = hit.run.named("step_completed", "square")
    assert len(done) == 1 and done[0].data["cached"] is True
    assert done[0].data["outputs"]["value"] == "9"
    assert hit.run.report()["workflow_data"]["square"] == "9"
    assert hit.run.statuses()["square"] == "completed"
    (record,) = hit.run.history()
    assert {s["id"]: s["cached"] for s in record["steps"]} == {"square": True, "use": False}

    miss = ws.run(spec, "--input", "n=4")
    assert miss.code == 0, miss.explain()
    assert line_counts(ws.path("counts")) == {"square": 2}
    assert used(ws, miss.run.run_id) == "16/16"

    cleared = ws.cli("cache", "clear")
    assert cleared.code == 0, cleared.explain()
    after = ws.run(spec, "--input", "n=3")
    assert after.code == 0, after.explain()
    assert line_counts(ws.path("counts")) == {"square": 3}


def test_failures_are_not_cached_and_a_ttl_of_a_day_keeps_the_entry(ws: Workspace) -> None:
    flag = ws.path("healthy")
    spec = ws.spec(squares_spec(ws, ttl="1d", work=f"test -f {q(flag)}"))
    failed = ws.run(spec)
    assert failed.code == 1, failed.explain()
    flag.touch()
    assert ws.run(spec).code == 0
    assert line_counts(ws.path("counts")) == {"square": 2}, "a failure is never a hit"
    assert ws.run(spec).code == 0
    assert line_counts(ws.path("counts")) == {"square": 2}


def test_a_ttl_of_zero_expires_the_entry_at_once(ws: Workspace) -> None:
    # Only the wiring of `ttl` from the spec to the cache: expiry itself is tested with an
    # injected clock in tests/state/test_cache.py, where no run's duration can race it.
    spec = ws.spec(squares_spec(ws, ttl="0"))
    assert ws.run(spec).code == 0
    again = ws.run(spec)
    assert again.code == 0, again.explain()
    assert line_counts(ws.path("counts")) == {"square": 2}


def test_concurrent_runs_share_one_cache(ws: Workspace) -> None:
    spec = ws.spec(squares_spec(ws, work="sleep 0.2"))
    procs = [
        (n, ws.start("run", str(spec), "--input", f"n={n}", "--output", "json"))
        for n in (0, 1, 2, 0, 1, 2)
    ]
    for n, proc in procs:
        code, out, err = finish(proc, timeout=60)
        assert code == 0, out + err
        report = json.loads(out)
        assert report["workflow_data"]["square"] == str(n * n)
        assert used(ws, report["run_id"]) == f"{n * n}/{n * n}"
    history = (ws.state / "history.jsonl").read_text().splitlines()
    assert len(history) == 6 and all(json.loads(line)["status"] == "completed" for line in history)
    ran = line_counts(ws.path("counts"))["square"]
    assert 3 <= ran <= 6, "each key missed at least once; concurrent misses may both run"

    for n in (0, 1, 2):
        hit = ws.run(spec, "--input", f"n={n}")
        assert hit.code == 0, hit.explain()
        assert hit.run.named("step_completed", "square")[0].data["cached"] is True
        assert used(ws, hit.run.run_id) == f"{n * n}/{n * n}"
    assert line_counts(ws.path("counts"))["square"] == ran
