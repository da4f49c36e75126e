"""The saga through the CLI: rollback_actions undo completed steps, newest first, each audited."""

from __future__ import annotations

from tests.e2e.kit import Workspace, line_counts, lines, q


def undo(ws: Workspace, text: str) -> str:
    """A rollback action that appends `text` (a template) to the order file."""
    return f"{{run: 'echo \"{text}\" >> {q(ws.path('order'))}'}}"


def test_rollback_runs_in_reverse_completion_order_and_is_audited(ws: Workspace) -> None:
    spec = ws.spec(
        f"""
        name: saga
        steps:
          - id: slow
            run: sleep 0.3
            rollback_actions: [{undo(ws, "undo-slow")}]
          - id: a
            run: 'echo "id=42" >> "$FLOWCTL_OUTPUT"'
            input_mapping: {{who: "'alice'"}}
            rollback_actions: [{undo(ws, "undo-a {{ result.id }} {{ params.who }}")}]
          - id: b
            run: 'true'
            dependencies: [a]
            rollback_actions: [{undo(ws, "undo-b")}]
          - id: c
            run: 'true'
            dependencies: [b]
            rollback_actions: [{undo(ws, "undo-c1")}, {undo(ws, "undo-c2")}]
          - id: plain
            run: 'true'
            dependencies: [a]
          - id: boom
            run: 'exit 7'
            dependencies: [c, slow]
            rollback_actions: [{undo(ws, "undo-boom")}]
        """
    )
    result = ws.run(spec)
    assert result.code == 1, result.explain()
    run = result.run
    completed = [s for s in run.steps_with("step_completed") if s in ("slow", "a", "b", "c")]
    expected = {
        "slow": ["undo-slow"],
        "a": ["undo-a 42 alice"],
        "b": ["undo-b"],
        "c": ["undo-c1", "undo-c2"],  # one step's actions run in the order written
    }
    order = lines(ws.path("order"))
    assert order == [text for step in reversed(completed) for text in expected[step]]
    assert order.index("undo-c1") < order.index("undo-b") < order.index("undo-a 42 alice")
    assert "undo-boom" not in order  # a failed step has nothing to undo

    assert len(run.named("rollback_started")) == 1
    actions = run.named("rollback_action")
    assert [(e.step, e.data["index"]) for e in actions] == [
        (step, index) for step in reversed(completed) for index in range(len(expected[step]))
    ]
    assert all(e.data["ok"] is True for e in actions)
    assert [e.data["failed"] for e in run.named("rollback_finished")] == [0]
    assert sorted(run.steps_with("step_rolled_back")) == ["a", "b", "c", "slow"]
    events = [e.event for e in run.events()]
    assert events.index("rollback_started") < events.index("rollback_finished")
    assert events.index("rollback_finished") < events.index("run_finished")

    statuses = run.statuses()
    assert {statuses[s] for s in ("slow", "a", "b", "c")} == {"rolled_back"}
    assert statuses["plain"] == "completed" and statuses["boom"] == "failed"
    assert run.finished().data["status"] == "failed"
    assert run.report()["status"] == "failed"


def test_a_failing_rollback_action_is_recorded_and_the_others_still_run(ws: Workspace) -> None:
    spec = ws.spec(
        f"""
        name: saga-broken
        steps:
          - id: a
            run: 'true'
            rollback_actions: [{undo(ws, "undo-a")}]
          - id: b
            run: 'true'
            dependencies: [a]
            rollback_actions:
              - run: 'echo "cannot undo b" >&2; exit 5'
          - id: c
            run: 'true'
            dependencies: [b]
            rollback_actions: [{undo(ws, "undo-c")}]
          - id: boom
            run: 'exit 1'
            dependencies: [c]
        """
    )
    result = ws.run(spec)
    assert result.code == 1, result.explain()
    assert lines(ws.path("order")) == ["undo-c", "undo-a"]
    run = result.run
    outcome = {e.step: e.data for e in run.named("rollback_action")}
    assert outcome["c"]["ok"] is True and outcome["a"]["ok"] is True
    assert outcome["b"]["ok"] is False and outcome["b"]["error"]
    assert [e.data["failed"] for e in run.named("rollback_finished")] == [1]
    assert sorted(run.steps_with("step_rolled_back")) == ["a", "c"]
    statuses = run.statuses()
    assert statuses["a"] == statuses["c"] == "rolled_back"
    assert statuses["b"] != "rolled_back"
    assert run.finished().data["status"] == "failed"


def test_loop_iterations_are_undone_one_by_one_newest_first(ws: Workspace) -> None:
    spec = ws.spec(
        f"""
        name: trips
        steps:
          - id: trip
            type: loop
            loop:
              for_each: [paris, rome, oslo]
              as: city
              steps:
                - id: book
                  run: 'echo "$FLOWCTL_STEP_ID" >> {q(ws.path("booked"))}'
                  rollback_actions: [{undo(ws, "unbook {{ city }} {{ index }}")}]
          - id: pay
            run: 'exit 1'
            dependencies: [trip]
        """
    )
    result = ws.run(spec)
    assert result.code == 1, result.explain()
    assert lines(ws.path("booked")) == ["trip[0].book", "trip[1].book", "trip[2].book"]
    assert lines(ws.path("order")) == ["unbook oslo 2", "unbook rome 1", "unbook paris 0"]
    run = result.run
    assert [e.step for e in run.named("rollback_action")] == [
        "trip[2].book",
        "trip[1].book",
        "trip[0].book",
    ]
    assert run.statuses()["trip[1].book"] == "rolled_back"


def test_a_run_timeout_rolls_back_and_exits_3(ws: Workspace) -> None:
    spec = ws.spec(
        f"""
        name: late
        timeout: 1s
        env: {{COUNTS: {q(ws.path("counts"))}}}
        steps:
          - id: reserve
            run: 'echo "$FLOWCTL_STEP_ID" >> "$COUNTS"'
            rollback_actions: [{undo(ws, "release")}]
          - id: wait_forever
            run: sleep 3600
            dependencies: [reserve]
            rollback_actions: [{undo(ws, "never")}]
        """
    )
    result = ws.run(spec)  # the CLI's 60 s timeout fails the test if the step ran its hour
    assert result.code == 3, result.explain()
    assert lines(ws.path("order")) == ["release"]
    assert line_counts(ws.path("counts")) == {"reserve": 1}
    run = result.run
    assert run.finished().data["status"] == "timeout"
    assert run.statuses()["reserve"] == "rolled_back"
    assert run.statuses()["wait_forever"] == "cancelled"
    assert len(run.named("rollback_started")) == 1


def test_resume_after_a_rollback_runs_the_undone_steps_again(ws: Workspace) -> None:
    count = 'echo "$FLOWCTL_STEP_ID" >> "$COUNTS"'
    spec = ws.spec(
        f"""
        name: redo
        env: {{COUNTS: {q(ws.path("counts"))}}}
        steps:
          - id: reserve
            run: '{count}'
            rollback_actions: [{undo(ws, "release")}]
          - id: note
            run: '{count}'
          - id: pay
            dependencies: [reserve, note]
            run: '{count}; test -f {q(ws.path("go"))}'
        """
    )
    first = ws.run(spec)
    assert first.code == 1, first.explain()
    assert lines(ws.path("order")) == ["release"]
    ws.path("go").touch()
    resumed = ws.resume(first.run.run_id)
    assert resumed.code == 0, resumed.explain()
    # `reserve` was undone, so it is done again; `note` had nothing to undo: restored.
    assert line_counts(ws.path("counts")) == {"reserve": 2, "note": 1, "pay": 2}
    assert first.run.statuses() == {"reserve": "completed", "note": "completed", "pay": "completed"}
