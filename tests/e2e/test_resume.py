"""`flowctl resume` as a user drives it: only unfinished work runs again, counted in files."""

from __future__ import annotations

import json

from tests.e2e.kit import Workspace, line_counts, q, seqs_increase

COUNT = 'echo "$FLOWCTL_STEP_ID" >> "$COUNTS"'


def gated(ws: Workspace) -> str:
    """A command that fails until the file "go" exists in the workspace.

    It takes a moment first, so that its siblings have long finished when it fails.
    """
    return f"{COUNT}; sleep 0.2; test -f {q(ws.path('go'))}"


def chain_spec(ws: Workspace) -> str:
    return f"""
        name: chain
        env: {{COUNTS: {q(ws.path("counts"))}}}
        steps:
          - id: extract
            run: '{COUNT}; echo "rows=7" >> "$FLOWCTL_OUTPUT"'
            output_mapping: {{result.rows: workflow.stats.rows}}
          - id: side
            run: '{COUNT}'
          - id: transform
            dependencies: [extract]
            run: 'echo "$FLOWCTL_IDEMPOTENCY_KEY" >> {q(ws.path("keys"))}; {gated(ws)}'
          - id: load
            dependencies: [transform]
            input_mapping: {{rows: workflow.stats.rows, extracted: steps.extract.outputs.rows}}
            run: >-
              {COUNT};
              printf '%s/%s' "$FLOWCTL_PARAM_ROWS" "$FLOWCTL_PARAM_EXTRACTED"
              > {q(ws.path("loaded"))}
        """


def test_resume_runs_only_what_did_not_complete_and_restores_data(ws: Workspace) -> None:
    first = ws.run(ws.spec(chain_spec(ws)))
    assert first.code == 1, first.explain()
    assert line_counts(ws.path("counts")) == {"extract": 1, "side": 1, "transform": 1}
    run = first.run
    before = run.events()

    ws.path("go").touch()
    resumed = ws.resume(run.run_id)
    assert resumed.code == 0, resumed.explain()
    assert line_counts(ws.path("counts")) == {"extract": 1, "side": 1, "transform": 2, "load": 1}
    # Outputs and workflow data of restored steps come from the journal.
    assert ws.path("loaded").read_text() == "7/7"
    keys = ws.path("keys").read_text().split()
    assert len(keys) == 2 and keys[0] == keys[1], "the idempotency key survives a resume"

    events = run.events()
    assert events[: len(before)] == before, "resume appends to the same journal"
    assert seqs_increase(events)
    starts = run.named("run_started")
    assert [e.data.get("resumed") for e in starts] == [False, True]
    assert run.finished().data["status"] == "completed"
    assert [h["status"] for h in run.history()] == ["failed", "completed"]
    report = run.report()
    assert report["status"] == "completed"
    assert report["workflow_data"]["stats"] == {"rows": "7"}


def test_resume_accepts_a_unique_prefix_and_refuses_an_unknown_run(ws: Workspace) -> None:
    first = ws.run(ws.spec(chain_spec(ws)))
    assert first.code == 1
    unknown = ws.cli("resume", "no-such-run")
    assert unknown.code == 2, unknown.explain()
    assert "no-such-run" in unknown.stderr
    ws.path("go").touch()
    prefix = first.run.run_id[:-2]
    resumed = ws.cli("resume", prefix)
    assert resumed.code == 0, resumed.explain()
    assert first.run.finished().data["status"] == "completed"


def test_resuming_a_completed_run_is_a_no_op(ws: Workspace) -> None:
    ws.path("go").touch()
    first = ws.run(ws.spec(chain_spec(ws)))
    assert first.code == 0, first.explain()
    run = first.run
    audit, history = run.audit.read_bytes(), (ws.state / "history.jsonl").read_bytes()
    counts = line_counts(ws.path("counts"))

    again = ws.resume(run.run_id)
    assert again.code == 0, again.explain()
    assert "already complete" in again.output.lower()
    assert run.audit.read_bytes() == audit
    assert (ws.state / "history.jsonl").read_bytes() == history
    assert line_counts(ws.path("counts")) == counts


def test_resume_refuses_a_changed_spec_unless_forced(ws: Workspace) -> None:
    spec = ws.spec(chain_spec(ws))
    first = ws.run(spec)
    assert first.code == 1
    run_id = first.run.run_id
    spec.write_text(spec.read_text() + "# edited after the run\n")
    ws.path("go").touch()

    refused = ws.resume(run_id)
    assert refused.code == 2, refused.explain()
    assert f"the spec changed since run {run_id}" in refused.stderr
    assert "use --force to resume anyway" in refused.stderr
    assert line_counts(ws.path("counts"))["transform"] == 1, "nothing ran"

    forced = ws.resume(run_id, "--force")
    assert forced.code == 0, forced.explain()
    assert line_counts(ws.path("counts")) == {"extract": 1, "side": 1, "transform": 2, "load": 1}


def test_resume_from_a_step_runs_it_and_everything_downstream_again(ws: Workspace) -> None:
    spec = ws.spec(
        f"""
        name: again
        env: {{COUNTS: {q(ws.path("counts"))}}}
        steps:
          - id: a
            run: '{COUNT}'
          - id: b
            dependencies: [a]
            run: '{COUNT}'
          - id: c
            dependencies: [b]
            run: '{COUNT}'
          - id: d
            dependencies: [c]
            run: '{gated(ws)}'
          - id: other
            dependencies: [a]
            run: '{COUNT}'
        """
    )
    first = ws.run(spec)
    assert first.code == 1, first.explain()
    ws.path("go").touch()
    resumed = ws.resume(first.run.run_id, "--from", "b")
    assert resumed.code == 0, resumed.explain()
    assert line_counts(ws.path("counts")) == {"a": 1, "b": 2, "c": 2, "d": 2, "other": 1}


def test_resume_skip_marks_a_failed_step_done_with_given_outputs(ws: Workspace) -> None:
    spec = ws.spec(
        f"""
        name: skipping
        env: {{COUNTS: {q(ws.path("counts"))}}}
        steps:
          - id: fetch_token
            run: '{COUNT}; exit 1'
          - id: use
            dependencies: [fetch_token]
            input_mapping: {{token: steps.fetch_token.outputs.token}}
            run: '{COUNT}; printf %s "$FLOWCTL_PARAM_TOKEN" > {q(ws.path("used"))}'
        """
    )
    first = ws.run(spec)
    assert first.code == 1, first.explain()
    outputs = json.dumps({"token": "by-hand"})
    resumed = ws.resume(first.run.run_id, "--skip", "fetch_token", "--outputs", outputs)
    assert resumed.code == 0, resumed.explain()
    assert line_counts(ws.path("counts")) == {"fetch_token": 1, "use": 1}
    assert ws.path("used").read_text() == "by-hand"
    done = first.run.named("step_completed", "fetch_token")
    assert len(done) == 1 and done[0].data.get("skipped_by_user") is True
    assert done[0].data["outputs"] == {"token": "by-hand"}


def test_resume_reruns_only_the_failed_item_of_a_for_each_loop(ws: Workspace) -> None:
    spec = ws.spec(
        f"""
        name: items
        env: {{COUNTS: {q(ws.path("counts"))}}}
        steps:
          - id: each
            type: loop
            loop:
              for_each: [a, b, c, d]
              max_concurrency: 4
              steps:
                - id: work
                  input_mapping: {{name: item}}
                  run: >-
                    echo "$FLOWCTL_PARAM_NAME" >> "$COUNTS";
                    if [ "$FLOWCTL_PARAM_NAME" = c ]; then sleep 0.3; test -f {q(ws.path("go"))}; fi
          - id: after
            dependencies: [each]
            run: '{COUNT}'
        """
    )
    first = ws.run(spec)
    assert first.code == 1, first.explain()
    assert line_counts(ws.path("counts")) == {"a": 1, "b": 1, "c": 1, "d": 1}
    ws.path("go").touch()
    resumed = ws.resume(first.run.run_id)
    assert resumed.code == 0, resumed.explain()
    assert line_counts(ws.path("counts")) == {"a": 1, "b": 1, "c": 2, "d": 1, "after": 1}
    run = first.run
    assert run.statuses()["each[2].work"] == "completed"
    assert run.outputs("each")["count"] == 4
    assert len(run.outputs("each")["iterations"]) == 4


def test_resume_reruns_only_the_failed_child_of_a_parallel_container(ws: Workspace) -> None:
    spec = ws.spec(
        f"""
        name: fan
        env: {{COUNTS: {q(ws.path("counts"))}}}
        steps:
          - id: fan
            type: parallel
            parallel_steps:
              - id: left
                run: '{COUNT}'
              - id: middle
                run: 'sleep 0.3; {gated(ws)}'
              - id: right
                run: '{COUNT}'
          - id: after
            dependencies: [fan]
            run: '{COUNT}'
        """
    )
    first = ws.run(spec)
    assert first.code == 1, first.explain()
    ws.path("go").touch()
    resumed = ws.resume(first.run.run_id)
    assert resumed.code == 0, resumed.explain()
    assert line_counts(ws.path("counts")) == {"left": 1, "middle": 2, "right": 1, "after": 1}
    assert first.run.outputs("fan")["succeeded"] == 3


def test_a_torn_last_line_does_not_stop_a_resume(ws: Workspace) -> None:
    first = ws.run(ws.spec(chain_spec(ws)))
    assert first.code == 1
    run = first.run
    with run.audit.open("ab") as audit:
        audit.write(b'{"ts": "2026-01-01T00:00:00Z", "seq": 99, "run_id": "')
    ws.path("go").touch()
    resumed = ws.resume(run.run_id)
    assert resumed.code == 0, resumed.explain()
    assert resumed.stderr.strip(), "the torn line is worth a warning"
    assert line_counts(ws.path("counts")) == {"extract": 1, "side": 1, "transform": 2, "load": 1}
    journal = run.journal()
    assert not journal.torn_tail and len(journal.bad_lines) <= 1
    assert journal.events[-1].event == "run_finished"
    assert journal.events[-1].data["status"] == "completed"
