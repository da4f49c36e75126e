"""Issue 14, item 14: a loop's journal line does not repeat its children's outputs.

The children's own events carry their outputs; the loop's event keeps `count` and a
marker, and resume rebuilds `iterations` from the children. Measured in bytes of the
journal against the number of items, never by time.
"""

from __future__ import annotations

import json

from tests.e2e.kit import Workspace, q

CHILD_BYTES = 20_000


def _loop_spec(ws: Workspace, items: int, name: str) -> None:
    ws.spec(
        f"""
        name: growth
        steps:
          - id: each
            type: loop
            loop:
              for_each: {list(range(items))}
              steps:
                - id: big
                  run: printf '%0{CHILD_BYTES}d' {{{{ item }}}}
          - id: after
            dependencies: [each]
            run: >-
              printf '%s' "{{{{ steps.each.outputs.count }}}}
              {{{{ steps.each.outputs.iterations[{items - 1}].big.stdout | length }}}}"
        """,
        name,
    )


def _loop_line(ws: Workspace, spec: str) -> tuple[int, int, str]:
    done = ws.run(ws.path(spec))
    assert done.code == 0, done.explain()
    loop_line = next(
        line
        for line in done.run.audit.read_text().splitlines()
        if json.loads(line)["step"] == "each" and json.loads(line)["event"] == "step_completed"
    )
    return len(loop_line), done.run.audit.stat().st_size, done.run.outputs("after")["stdout"]


def test_a_loop_journals_its_children_outputs_once(ws: Workspace) -> None:
    _loop_spec(ws, 10, "ten.yaml")
    _loop_spec(ws, 40, "forty.yaml")
    line10, size10, after10 = _loop_line(ws, "ten.yaml")
    line40, size40, after40 = _loop_line(ws, "forty.yaml")
    # Expressions still read the iterations, in memory.
    assert after10 == f"10 {CHILD_BYTES}"
    assert after40 == f"40 {CHILD_BYTES}"
    # The loop's own line is small (it was 1.2 MB at 10): it grows only by each item's
    # label (`"12",`, a few bytes), not by the children's outputs.
    assert line10 < 1_000 and line40 < 1_000, (line10, line40)
    assert line40 - line10 < 30 * 8, (line10, line40)
    # The whole journal grows by one copy of each child's output per item, not two.
    per_item = (size40 - size10) / 30
    assert CHILD_BYTES < per_item < CHILD_BYTES + 2_000, per_item


def test_resume_rebuilds_a_completed_loops_iterations_from_its_children(ws: Workspace) -> None:
    flag = ws.path("flag")
    spec = ws.spec(
        f"""
        name: nested
        steps:
          - id: each
            type: loop
            loop:
              for_each: [1, 2, 3]
              steps:
                - id: big
                  run: echo "item {{{{ item }}}}"
                - id: inner
                  type: loop
                  loop:
                    for_each: [a, b]
                    as: x
                    steps:
                      - {{id: c, run: "echo {{{{ x }}}}"}}
          - id: after
            dependencies: [each]
            run: >-
              test -f {q(flag)} &&
              echo "{{{{ steps.each.outputs.count }}}}
              {{{{ steps.each.outputs.iterations[1].big.stdout }}}}
              {{{{ steps.each.outputs.iterations[2].inner.iterations[1].c.stdout }}}}
              {{{{ steps.each.outputs.iterations | length }}}}"
        """
    )
    failed = ws.run(spec)
    assert failed.code == 1, failed.explain()
    assert failed.run.statuses()["each"] == "completed"
    for event in failed.run.named("step_completed"):
        if event.data["type"] == "loop":
            assert "iterations" not in event.data["outputs"], event
    flag.touch()
    done = ws.resume(failed.run.run_id)
    assert done.code == 0, done.explain()
    # `each` was restored, not run again: its iterations came from the children's events.
    assert len(done.run.named("step_completed", "each")) == 1
    assert done.run.outputs("after")["stdout"].split() == ["3", "item", "2", "b", "3"]


def test_each_label_is_journaled_once_and_resume_reads_the_labels_back(ws: Workspace) -> None:
    flag = ws.path("flag")
    spec = ws.spec(
        f"""
        name: labels-once
        steps:
          - id: each
            type: loop
            loop:
              for_each: [alpha-item, beta-item, gamma-item]
              steps:
                - {{id: work, run: "echo got {{{{ item }}}}"}}
          - id: after
            dependencies: [each]
            run: >-
              test -f {q(flag)} &&
              echo "{{{{ steps.each.outputs.labels | join(',') }}}}"
        """
    )
    failed = ws.run(spec)
    assert failed.code == 1, failed.explain()
    text = failed.run.audit.read_text()
    for label in ("alpha-item", "beta-item", "gamma-item"):
        # Once, in the loop_labels line (the children print `got <item>`, not the label).
        assert text.count(f'"{label}"') == 1, (label, text)
    (loop_done,) = failed.run.named("step_completed", "each")
    assert "labels" not in loop_done.data["outputs"]
    (labelled,) = failed.run.named("loop_labels", "each")
    assert labelled.data["labels"] == ["alpha-item", "beta-item", "gamma-item"]
    flag.touch()
    done = ws.resume(failed.run.run_id)
    assert done.code == 0, done.explain()
    assert len(done.run.named("step_completed", "each")) == 1  # restored, not run again
    assert done.run.outputs("after")["stdout"] == "alpha-item,beta-item,gamma-item"
    assert [s["label"] for s in done.run.report()["steps"] if s["parent"] == "each"] == [
        "each[alpha-item].work",
        "each[beta-item].work",
        "each[gamma-item].work",
    ]


def test_a_nested_loops_big_outputs_are_read_back_by_index_through_the_cli(
    ws: Workspace,
) -> None:
    # Big children's outputs are kept in the journal only (runner/stored_outputs.py): the
    # expression after the loop reads the one it names back from there.
    spec = ws.spec(
        f"""
        name: nested-read
        steps:
          - id: outer
            type: loop
            loop:
              for_each: [0, 1]
              as: o
              steps:
                - id: inner
                  type: loop
                  loop:
                    for_each: [0, 1, 2]
                    as: i
                    steps:
                      - id: big
                        run: >-
                          printf 'o%si%s-' {{{{ o }}}} {{{{ i }}}};
                          head -c {CHILD_BYTES} /dev/zero | tr '\\0' x
          - id: after
            dependencies: [outer]
            run: >-
              printf '%s' "{{{{ steps.outer.outputs.iterations[1].inner.iterations[2]
              .big.stdout[:7] }}}}
              {{{{ steps.outer.outputs.iterations[0].inner.iterations[1].big.stdout
              | length }}}}
              {{{{ steps.outer.outputs.iterations | map(attribute='inner')
                   | map(attribute='count') | join(',') }}}}"
        """
    )
    done = ws.run(spec)
    assert done.code == 0, done.explain()
    assert done.run.outputs("after")["stdout"] == f"o1i2-xx {CHILD_BYTES + 5} 3,3"
