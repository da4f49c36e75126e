"""Big step outputs are kept once, in the journal, and read back on demand (issue 14, item 14).

Deterministic properties of what a run holds in memory: references for big outputs, the
values themselves for small ones and for outputs holding a secret; never a timing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flowctl.api import resume_workflow
from flowctl.errors import StateError
from flowctl.runner.stored_outputs import SHELVE_BYTES, OutputShelf, Spot, StoredOutputs
from tests.runner.sched_kit import events, run_spec

BIG = 2 * SHELVE_BYTES  # bytes printed by a step whose outputs get shelved


def test_a_loops_children_are_references_read_back_when_an_expression_reads_them(
    tmp_path: Path,
) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: shelved
        steps:
          - id: each
            type: loop
            loop:
              for_each: [0, 1, 2, 3]
              steps:
                - id: big
                  run: printf 'item%s-' {{{{ item }}}}; head -c {BIG} /dev/zero | tr '\\0' x
                - id: small
                  run: echo "small {{{{ item }}}}"
          - id: after
            dependencies: [each]
            run: >-
              echo "{{{{ steps.each.outputs.iterations[3].big.stdout[:7] }}}}
              {{{{ steps.each.outputs.iterations[3].big.stdout | length }}}}"
        """,
    )
    assert result.ok, result.error
    assert result.step("after").outputs["stdout"] == f"item3-x {BIG + 6}"
    iterations = result.step("each").outputs["iterations"]
    big = iterations[3]["big"]
    assert isinstance(big, StoredOutputs)  # a reference, not the 16 KiB of text
    assert big is result.step("each[3].big").outputs
    assert "xxx" not in repr(big) and "each[3].big" in repr(big)
    assert list(big) == ["exit_code", "stdout", "stderr"]
    assert big["stdout"] == "item3-" + "x" * BIG  # read back from the journal
    journaled = next(
        e.data["outputs"]
        for e in events(result)
        if e.step == "each[3].big" and e.event == "step_completed"
    )
    assert big == journaled and big.load() == journaled
    assert isinstance(iterations[3]["small"], dict)  # small outputs stay in memory
    assert iterations[3]["small"]["stdout"] == "small 3"


def test_outputs_holding_a_secret_stay_in_memory_with_the_real_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHELF_TOKEN", "tok-8c41f0a9d2")
    result = run_spec(
        tmp_path,
        f"""
        name: secret-big
        secrets: [SHELF_TOKEN]
        steps:
          - id: big
            run: >-
              echo "tok=$SHELF_TOKEN" >> "$FLOWCTL_OUTPUT";
              echo "pad=$(head -c {BIG} /dev/zero | tr '\\0' x)" >> "$FLOWCTL_OUTPUT"
          - id: after
            dependencies: [big]
            run: test "{{{{ steps.big.outputs.tok }}}}" = "$SHELF_TOKEN"
        """,
    )
    assert result.ok, result.error  # `after` read the real token, not `***`
    outputs = result.step("big").outputs
    assert not isinstance(outputs, StoredOutputs)  # the journal has only the masked text
    assert outputs["tok"] == "tok-8c41f0a9d2" and len(outputs["pad"]) == BIG
    # asyncio.run reprs the run's result when it ends: outputs held in memory stay out of it.
    assert "xxxx" not in repr(result) and "tok-8c41f0a9d2" not in repr(result)


def test_a_journal_changed_under_a_reference_is_a_clear_error(tmp_path: Path) -> None:
    journal = tmp_path / "audit.jsonl"
    line = {"seq": 7, "step": "a", "data": {"outputs": {"stdout": "x" * BIG}}}
    text = json.dumps(line, separators=(",", ":")) + "\n"
    journal.write_text(text)
    shelf = OutputShelf(journal)
    shelf.note("a", Spot(0, len(text), 7))
    outputs = {"stdout": "x" * BIG}
    stored = shelf.shelve("a", outputs, dict(outputs), None)
    assert isinstance(stored, StoredOutputs)
    assert stored["stdout"] == "x" * BIG
    journal.write_text(text.replace('"seq":7', '"seq":8'))
    fresh = OutputShelf(journal)  # no cached copy
    fresh.note("a", Spot(0, len(text), 7))
    moved = fresh.shelve("a", outputs, dict(outputs), None)
    with pytest.raises(StateError, match="no longer where the run wrote them"):
        moved["stdout"]


def test_only_plain_json_that_masking_left_alone_is_shelved(tmp_path: Path) -> None:
    shelf = OutputShelf(tmp_path / "audit.jsonl")
    cases: list[tuple[dict[str, Any], dict[str, Any] | None]] = [
        ({"v": ("a", "b"), "pad": "x" * BIG}, None),  # a tuple would come back a list
        ({"v": float("nan"), "pad": "x" * BIG}, None),
        ({"pad": "x" * BIG}, {"pad": "***"}),  # masked in the journal: keep the real one
    ]
    for outputs, journaled in cases:
        shelf.note("s", Spot(0, BIG + 100, 1))
        assert shelf.shelve("s", outputs, journaled or outputs, None) is outputs
    shelf.note("s", Spot(0, SHELVE_BYTES - 1, 1))  # too small to be worth it
    small = {"pad": "x"}
    assert shelf.shelve("s", small, small, None) is small


def test_resume_restores_big_outputs_as_references_and_reads_them_back(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    spec = f"""
        name: resumed-shelf
        steps:
          - id: each
            type: loop
            loop:
              for_each: [0, 1, 2]
              steps:
                - id: big
                  run: printf 'item%s-' {{{{ item }}}}; head -c {BIG} /dev/zero | tr '\\0' x
          - id: after
            dependencies: [each]
            run: >-
              test -f '{flag}' &&
              echo "{{{{ steps.each.outputs.iterations[2].big.stdout[:7] }}}}"
        """
    failed = run_spec(tmp_path, spec)
    assert failed.failures == ("after",) and "exited with code 1" in (failed.error or "")
    flag.touch()
    result = resume_workflow(failed.run_id, state_dir=tmp_path / ".flowctl")
    assert result.ok, result.error
    assert result.step("after").outputs["stdout"] == "item2-x"
    restored = result.step("each[2].big")
    assert restored.restored and isinstance(restored.outputs, StoredOutputs)
    assert restored.outputs["stdout"] == "item2-" + "x" * BIG
