"""--keep-going and `fail_fast: false`: a failure stops only its dependents; the run fails."""

from __future__ import annotations

from tests.e2e.kit import Workspace, lines, q

BRANCHES = """
name: branches
steps:
  - id: lint
    run: 'echo "E501 line too long" >&2; exit 1'
  - id: after_lint
    dependencies: [lint]
    run: 'true'
  - id: after_after
    dependencies: [after_lint, types]
    run: 'true'
  - id: types
    run: 'true'
  - id: tests
    type: loop
    loop:
      for_each: ["3.11", "3.12", "pypy"]
      as: py
      steps:
        - id: test
          run: 'echo "{{{{ py }}}}" >> {done}; case "{{{{ py }}}}" in pypy) exit 3;; esac'
  - id: build
    dependencies: [types]
    run: 'echo built'
  - id: cleanup
    dependencies: [after_after]
    trigger_rule: all_done
    run: 'true'
"""


def test_keep_going_runs_every_independent_step_and_lists_every_failure(ws: Workspace) -> None:
    spec = ws.spec(BRANCHES.format(done=q(ws.path("done"))))
    result = ws.run(spec, "--keep-going")
    assert result.code == 1, result.explain()
    statuses = result.run.statuses()
    assert statuses["types"] == statuses["build"] == "completed"
    assert lines(ws.path("done")) == ["3.11", "3.12", "pypy"]  # every matrix item ran
    assert statuses["tests[2].test"] == "failed" and statuses["tests"] == "failed"
    assert statuses["after_lint"] == "skipped"
    # Transitively: after_after's other dependency completed, yet a failure is upstream.
    assert statuses["after_after"] == "skipped"
    assert statuses["cleanup"] == "completed"  # all_done still runs
    out = result.stdout
    assert "  2 independent failures:\n" in out
    assert "    step 'lint' failed: command exited with code 1: E501 line too long\n" in out
    assert "    step 'tests[pypy].test' failed: command exited with code 3\n" in out  # by label
    # Each error once in the summary; the failed loop is named by its failing item only.
    summary = out[out.index("✗ branches failed") :]
    assert summary.count("E501 line too long") == 1  # its output block came before
    assert "step 'tests' failed" not in summary
    skipped = result.run.step_report("after_after")
    assert skipped["reason"] == "dependency 'after_lint' was skipped: 'lint' failed"


def test_fail_fast_false_in_the_file_is_keep_going(ws: Workspace) -> None:
    spec = ws.spec("fail_fast: false\n" + BRANCHES.format(done=q(ws.path("done"))))
    result = ws.run(spec)
    assert result.code == 1, result.explain()
    assert result.run.statuses()["build"] == "completed"
    assert lines(ws.path("done")) == ["3.11", "3.12", "pypy"]


def test_without_keep_going_the_first_failure_stops_the_others(ws: Workspace) -> None:
    spec = ws.spec(
        """
        name: ff
        steps:
          - id: boom
            run: 'exit 1'
          - id: slow
            run: 'sleep 0.5'
          - id: later
            dependencies: [slow]
            run: 'true'
        """
    )
    result = ws.run(spec)
    assert result.code == 1
    assert result.run.statuses()["later"] == "skipped"
    assert "independent failures" not in result.stdout


def test_rollback_runs_once_after_every_branch_finished(ws: Workspace) -> None:
    order, failed = q(ws.path("order")), q(ws.path("failed"))
    spec = ws.spec(
        f"""
        name: saga
        steps:
          - id: a
            run: 'echo a >> {order}'
            rollback_actions: [{{run: 'echo undo-a >> {order}'}}]
          - id: boom
            run: 'touch {failed}; exit 2'
          - id: slow
            dependencies: [a]
            run: 'while [ ! -f {failed} ]; do sleep 0.01; done; echo slow >> {order}'
            rollback_actions: [{{run: 'echo undo-slow >> {order}'}}]
        """
    )
    result = ws.run(spec, "--keep-going")
    assert result.code == 1, result.explain()
    # `slow` finished after the failure and was still undone, in the one rollback at the
    # end, newest first.
    assert lines(ws.path("order")) == ["a", "slow", "undo-slow", "undo-a"]
    assert len(result.run.named("rollback_started")) == 1
    assert result.run.statuses()["slow"] == "rolled_back"


def test_resume_keep_going_reruns_the_failures_and_keeps_going(ws: Workspace) -> None:
    flag = ws.path("fixed")
    spec = ws.spec(
        f"""
        name: again
        steps:
          - id: one
            run: 'test -f {q(flag)}'
          - id: two
            run: 'exit 1'
          - id: three
            run: 'true'
        """
    )
    first = ws.run(spec, "--keep-going")
    assert first.code == 1
    run_id = first.run.run_id
    flag.write_text("")
    again = ws.resume(run_id, "--keep-going")
    assert again.code == 1, again.explain()
    statuses = again.run.statuses()
    assert statuses["one"] == "completed" and statuses["two"] == "failed"
