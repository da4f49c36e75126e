"""`validate` renders a loop's label for each item of a literal for_each list."""

from __future__ import annotations

from pathlib import Path

from tests.cli import run_flowctl

# A GitHub Actions matrix ported as is: `matrix.name || matrix.python` reads a key only
# some items have.
MATRIX = """\
name: matrix
steps:
  - id: tests
    type: loop
    loop:
      for_each:
        - {python: '3.13'}
        - {name: Windows, python: '3.13', os: windows-latest}
      label: "LABEL"
      steps:
        - {id: pytest, run: 'true'}
"""


def validate(tmp_path: Path, label: str, spec: str = MATRIX) -> tuple[int, str]:
    (tmp_path / "wf.yaml").write_text(spec.replace("LABEL", label))
    done = run_flowctl("validate", "wf.yaml", cwd=tmp_path)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout + done.stderr


def test_a_key_only_some_items_have_is_an_error_at_the_label(tmp_path: Path) -> None:
    code, said = validate(tmp_path, "{{ item.name or item.python }}")
    assert code == 2, said
    assert said.startswith(
        "wf.yaml:9:14: error: loop 'tests': label '{{ item.name or item.python }}' fails for "
        'item 0 ({"python": "3.13"}): no key \'name\' in a mapping with keys python;'
    ), said
    assert "`item.KEY | default(...)`" in said


def test_a_label_that_renders_for_every_item_is_fine(tmp_path: Path) -> None:
    code, said = validate(tmp_path, "{{ item.name | default(item.python) }}")
    assert code == 0, said


def test_labels_reading_what_only_the_run_knows_are_left_to_the_run(tmp_path: Path) -> None:
    spec = MATRIX.replace("steps:\n  - id: tests", "variables: {v: x}\nsteps:\n  - id: tests")
    code, said = validate(tmp_path, "{{ item.name ~ workflow.v }}", spec)
    assert code == 0, said
    computed = MATRIX.replace(
        "for_each:\n        - {python: '3.13'}\n        - {name: Windows, python: '3.13', "
        "os: windows-latest}",
        "for_each: steps.list.outputs.items",
    ).replace("steps:\n  - id: tests", "steps:\n  - {id: list, run: 'true'}\n  - id: tests")
    code, said = validate(tmp_path, "{{ item.name }}", computed)
    assert "fails for item" not in said, said
