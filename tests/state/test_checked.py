"""Spec files whose bytes passed every check are not checked again (state/checked.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowctl.errors import SpecError
from flowctl.spec import load as spec_load
from flowctl.spec.load import load_workflow
from flowctl.state.checked import CHECKED_DIR, CheckedSpecFiles, checking_code_id

SPEC = """\
name: checked
steps:
  - id: a
    run: echo a
  - id: b
    run: echo b
    dependencies: [a]
"""


def _checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the full checks ran on, from here on."""
    seen: list[str] = []
    real = spec_load._check

    def spy(doc, raw, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(doc.source)
        return real(doc, raw, **kwargs)

    monkeypatch.setattr(spec_load, "_check", spy)
    return seen


def test_the_same_bytes_are_checked_once_and_built_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "flow.yaml"
    spec.write_text(SPEC)
    checked = CheckedSpecFiles(tmp_path / "state")
    seen = _checks(monkeypatch)
    first = load_workflow(spec, checked=checked)
    second = load_workflow(spec, checked=checked)
    assert seen == [str(spec)]
    assert second == first  # the same model, locations and digest included
    # One byte more is other bytes: checked again.
    spec.write_text(SPEC + "\n")
    load_workflow(spec, checked=checked)
    assert len(seen) == 2


def test_bytes_that_fail_are_never_remembered(tmp_path: Path) -> None:
    spec = tmp_path / "flow.yaml"
    spec.write_text(SPEC.replace("dependencies: [a]", "dependencies: [nope]"))
    checked = CheckedSpecFiles(tmp_path / "state")
    for _ in range(2):
        with pytest.raises(SpecError) as caught:
            load_workflow(spec, checked=checked)
        assert "nope" in str(caught.value)
    assert not (tmp_path / "state" / CHECKED_DIR).exists()


def test_other_checking_code_does_not_trust_the_markers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "flow.yaml"
    spec.write_text(SPEC)
    load_workflow(spec, checked=CheckedSpecFiles(tmp_path / "state", code_id="old"))
    seen = _checks(monkeypatch)
    load_workflow(spec, checked=CheckedSpecFiles(tmp_path / "state", code_id="new"))
    assert seen == [str(spec)]


def test_the_code_id_follows_the_checking_code(tmp_path: Path) -> None:
    for folder in ("spec", "graph", "schemas", "expressions", "files"):
        (tmp_path / folder).mkdir()
    module = tmp_path / "graph" / "flow.py"
    module.write_text("x = 1\n")
    before = checking_code_id(tmp_path)
    assert checking_code_id(tmp_path) == before
    module.write_text("x = 22\n")  # an edit in a checkout, or an upgrade
    assert checking_code_id(tmp_path) != before
    (tmp_path / "graph" / "notes.txt").write_text("not code")
    assert checking_code_id(tmp_path) == checking_code_id(tmp_path)


def test_a_marker_that_cannot_be_written_costs_only_the_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "flow.yaml"
    spec.write_text(SPEC)
    state = tmp_path / "state"
    state.mkdir()
    (state / CHECKED_DIR).write_text("a file where the folder would be")
    checked = CheckedSpecFiles(state)
    seen = _checks(monkeypatch)
    load_workflow(spec, checked=checked)
    load_workflow(spec, checked=checked)
    assert len(seen) == 2


@pytest.mark.e2e
def test_a_second_run_of_the_same_file_loads_no_graph_checks(tmp_path: Path) -> None:
    # Without the end-of-run analysis, which reads the graph for its own reasons.
    (tmp_path / "flow.yaml").write_text("optimization_enabled: false\n" + SPEC)
    probe = (
        "import sys\n"
        "from flowctl.entry import main\n"
        "sys.argv = ['flowctl', 'run', 'flow.yaml', '-q']\n"
        "try:\n    main()\nexcept SystemExit as done:\n    code = done.code\n"
        "print('EXIT', code, 'checks' if 'flowctl.graph.checks' in sys.modules else 'none')\n"
    )
    env = {**os.environ, "FLOWCTL_STATE_DIR": str(tmp_path / "state"), "CI": "true"}

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        return done.stdout.splitlines()[-1]

    assert run() == "EXIT 0 checks"
    assert run() == "EXIT 0 none"
    # An edit that breaks the file is caught with its location, as on the first run.
    (tmp_path / "flow.yaml").write_text(
        "optimization_enabled: false\n" + SPEC.replace("[a]", "[a, ghost]")
    )
    done = subprocess.run(
        [sys.executable, "-m", "flowctl", "run", "flow.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "flow.yaml:8:" in done.stderr and "ghost" in done.stderr
