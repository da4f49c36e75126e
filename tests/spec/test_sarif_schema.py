"""`validate --format sarif` checked against the official SARIF 2.1.0 JSON schema.

The schema is a copy kept in tests/data/schemas (where it came from: the README there).
It is a draft-04 schema whose `$ref`s all point inside the file; the validator is given a
registry holding only that file, so nothing is ever fetched.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests.cli import cli_env, run_flowctl

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "schemas" / "sarif-schema-2.1.0.json"

ERRORS = """\
name: broken
steps:
  - id: fetch
    retyr_policy: {max_attempts: 2}
    run: 'true'
  - id: after
    continue_on_failure: "yes"
    run: 'true'
"""
GRAPH = """\
name: graph
steps:
  - id: a
    dependencies: [b]
    run: 'true'
  - id: b
    dependencies: [a, ghost]
    run: 'true'
"""
WARNS = """\
name: warns
steps:
  - id: a
    run: echo x=1 >> "$FLOWCTL_OUTPUT"
    output_mapping: {result.x: workflow.x}
"""
CLEAN = "name: ok\nsteps:\n  - {id: a, run: 'true'}\n"


@cache
def validator() -> Draft4Validator:
    schema = json.loads(SCHEMA.read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    Draft4Validator.check_schema(schema)
    registry: Registry[Any] = Registry().with_resource(
        schema["id"], Resource.from_contents(schema, default_specification=DRAFT4)
    )
    # The URI formats are checked (they need rfc3986-validator, a test extra): a missing
    # checker would pass anything, so its absence fails here. (flowctl writes no date-time.)
    checker = FormatChecker()
    assert {"uri", "uri-reference"} <= set(checker.checkers), checker.checkers
    return Draft4Validator(schema, registry=registry, format_checker=checker)


def sarif(cwd: Path, *args: str, stdin: str | None = None) -> tuple[int, dict[str, Any]]:
    done = run_flowctl("validate", *args, "--format", "sarif", cwd=cwd, env=cli_env(), stdin=stdin)
    assert "Traceback" not in done.stderr, done.stderr
    log: dict[str, Any] = json.loads(done.stdout)
    errors = sorted(validator().iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, f"{best_match(errors).json_path}: {best_match(errors).message}"
    return done.returncode, log


def test_the_schema_rejects_what_it_should() -> None:
    # The checks below mean something only if the validator can say no.
    good = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "flowctl"}}}]}
    assert not list(validator().iter_errors(good))
    for bad in (
        {**good, "version": "2.0.0"},
        {"version": "2.1.0", "runs": [{"tool": {"driver": {}}}]},
        {**good, "runs": [{**good["runs"][0], "results": [{"message": {"text": "x"}, "x": 1}]}]},
        {
            **good,
            "runs": [
                {
                    **good["runs"][0],
                    "results": [
                        {
                            "message": {"text": "x"},
                            "locations": [
                                {"physicalLocation": {"artifactLocation": {"uri": "a b.yaml"}}}
                            ],
                        }
                    ],
                }
            ],
        },
    ):
        assert list(validator().iter_errors(bad)), bad


def test_errors_warnings_and_several_files_give_a_valid_sarif_log(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(ERRORS)
    (tmp_path / "graph.yaml").write_text(GRAPH)
    (tmp_path / "warns.yaml").write_text(WARNS)
    (tmp_path / "syntax.yaml").write_text("name: bad\nsteps: [\n")
    (tmp_path / "ok.yaml").write_text(CLEAN)
    files = ["broken.yaml", "graph.yaml", "warns.yaml", "syntax.yaml", "ok.yaml", "missing.yaml"]
    code, log = sarif(tmp_path, *files)
    assert code == 2
    (run,) = log["runs"]
    results = run["results"]
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results]
    # Every failing file has its results, in the order given; the clean file has none.
    assert sorted(set(uris), key=files.index) == [f for f in files if f != "ok.yaml"]
    assert {r["level"] for r in results} == {"error", "warning"}
    assert [
        r["level"]
        for r in results
        if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "warns.yaml"
    ] == ["warning"]
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert sorted(rules) == sorted({r["ruleId"] for r in results})
    assert all(rules[r["ruleIndex"]] == r["ruleId"] for r in results)
    located = [r for r in results if "region" in r["locations"][0]["physicalLocation"]]
    assert len(located) >= len(results) - 1  # all but the missing file point at a line


def test_strict_makes_the_warning_an_error_and_stays_valid(tmp_path: Path) -> None:
    (tmp_path / "warns.yaml").write_text(WARNS)
    code, log = sarif(tmp_path, "warns.yaml")
    assert code == 0
    assert [r["level"] for r in log["runs"][0]["results"]] == ["warning"]
    code, log = sarif(tmp_path, "warns.yaml", "--strict")
    assert code == 2
    assert [r["level"] for r in log["runs"][0]["results"]] == ["error"]


def test_a_clean_file_gives_a_valid_log_with_no_results(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text(CLEAN)
    code, log = sarif(tmp_path, "ok.yaml")
    assert code == 0
    assert log["runs"][0]["results"] == []


def test_paths_with_spaces_non_ascii_outside_the_cwd_and_stdin_are_uris(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "sub dir").mkdir(parents=True)
    (work / "sub dir" / "spéc 1.yaml").write_text(ERRORS)
    (tmp_path / "outside.yaml").write_text(ERRORS)
    code, log = sarif(work, "sub dir/spéc 1.yaml", str(tmp_path / "outside.yaml"))
    assert code == 2
    artifacts = [
        r["locations"][0]["physicalLocation"]["artifactLocation"] for r in log["runs"][0]["results"]
    ]
    assert artifacts[0] == {"uri": "sub%20dir/sp%C3%A9c%201.yaml", "uriBaseId": "SRCROOT"}
    assert artifacts[-1] == {"uri": (tmp_path / "outside.yaml").resolve().as_uri()}
    code, log = sarif(work, "-", stdin=ERRORS)
    assert code == 2
    assert log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "stdin"
    }


def test_the_kept_schema_is_the_official_one() -> None:
    schema = json.loads(SCHEMA.read_text())
    assert schema["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")
    assert schema["properties"]["version"]["enum"] == ["2.1.0"]
