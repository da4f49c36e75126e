"""Every JUnit report `run --junit` writes, validated against the Jenkins `junit-10.xsd`.

The XSD is a copy kept in tests/data/schemas (where it came from: the README there). The
runs go through the CLI and cover each outcome a step can have: passed, failed after
retries, passed after a retry (flaky), skipped by its condition or a failed dependency,
cancelled by a failure elsewhere, rolled back, cached, up to date, run on an agent, and
loop items, which are test cases named by their labels.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import xmlschema

from tests.e2e.kit import Workspace

XSD = Path(__file__).resolve().parents[1] / "data" / "schemas" / "junit-10.xsd"

KEEP_GOING = """
name: outcomes
steps:
  - id: ok
    run: echo fine
  - id: flaky
    # Fails its first attempt only: the counter file says which attempt this is.
    run: |
      echo x >> flaky.count
      test "$(wc -l < flaky.count)" -ge 2 || { echo "not yet" >&2; exit 5; }
    retry_policy: {max_attempts: 3, delay: 0.01}
  - id: broken
    run: 'echo "<bad> & \\"worse\\"" >&2; exit 3'
    retry_policy: {max_attempts: 2, delay: 0.01}
  - id: after_broken
    dependencies: [broken]
    run: echo never
  - id: optional
    condition: "false"
    run: echo never
  - id: compile
    type: loop
    loop:
      for_each: ["lapi.c", "lcode.c", "ldo.c"]
      as: src
      steps:
        - id: cc
          run: 'echo "cc $SRC"; test "$SRC" != lcode.c'
          env:
            SRC: "{{ src }}"
"""

FAIL_FAST = """
name: stops
steps:
  - id: charge
    run: echo charged
    rollback_actions:
      - run: echo refunded
  - id: slow
    run: sleep 600
  - id: boom
    dependencies: [charge]
    run: exit 1
"""

REUSED = """
name: reused
agents:
  scanner: {capabilities: [scan], run: "echo scanned"}
steps:
  - id: scan
    agent_capability: scan
  - id: fetch
    run: echo fetched >> fetch.count
    cache: {key: "fetch-v1"}
  - id: build
    run: cp in.txt out.txt
    sources: [in.txt]
    generates: [out.txt]
"""


@cache
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(XSD))


def valid(path: Path) -> dict[str, ET.Element]:
    """The file's test cases by name, once the XSD accepts the file (else the test fails
    naming the first error)."""
    errors = list(schema().iter_errors(str(path)))
    assert not errors, f"{path.name}: {errors[0].reason} at {errors[0].path}\n{path.read_text()}"
    root = ET.parse(path).getroot()
    return {case.get("name", ""): case for case in root.iter("testcase")}


def test_the_xsd_rejects_what_it_should(tmp_path: Path) -> None:
    # The checks below mean something only if the schema can say no: the attribute this
    # change removed (`skipped` on <testsuites>) and a testcase without a name.
    bad = tmp_path / "bad.xml"
    for text in (
        '<testsuites skipped="1"><testsuite name="w" tests="0" failures="0" errors="0"/>'
        "</testsuites>",
        '<testsuites><testsuite name="w" tests="1" failures="0" errors="0"><testcase/>'
        "</testsuite></testsuites>",
        '<testsuites><testsuite name="w" tests="1" failures="0" errors="0" time="1.5s">'
        "</testsuite></testsuites>",
    ):
        bad.write_text(text)
        assert list(schema().iter_errors(str(bad))), text


def test_keep_going_outcomes_and_loop_labels(ws: Workspace) -> None:
    spec = ws.spec(KEEP_GOING)
    junit = ws.path("reports/junit.xml")
    result = ws.run(spec, "--keep-going", "--junit", str(junit))
    assert result.code == 1, result.explain()
    cases = valid(junit)
    assert set(cases) == {
        "ok",
        "flaky",
        "broken",
        "after_broken",
        "optional",
        "compile",
        "compile[lapi.c].cc",
        "compile[lcode.c].cc",
        "compile[ldo.c].cc",
    }
    assert not any("[0]" in name or "[1]" in name for name in cases)

    def children(name: str) -> list[str]:
        return [child.tag for child in cases[name]]

    assert children("ok") == []
    # Passed on its second attempt: the failed first attempt is a flakyFailure.
    assert children("flaky") == ["flakyFailure", "system-out"]
    flaky = cases["flaky"].find("flakyFailure")
    assert flaky is not None
    assert flaky.get("message") == "attempt 1: command exited with code 5: not yet"
    assert "attempts: 2" in (cases["flaky"].findtext("system-out") or "")
    # Failed after two attempts: the failure, then the earlier attempt as a rerunFailure.
    assert children("broken") == ["failure", "rerunFailure", "system-out"]
    failure = cases["broken"].find("failure")
    assert failure is not None
    assert failure.get("message") == 'command exited with code 3: <bad> & "worse"'
    assert children("after_broken") == ["skipped"]
    assert cases["after_broken"].find("skipped").get("message") == (  # type: ignore[union-attr]
        "skipped: dependency 'broken' failed"
    )
    assert children("optional") == ["skipped"]
    assert children("compile[lapi.c].cc") == [] and children("compile[ldo.c].cc") == []
    item = cases["compile[lcode.c].cc"].find("failure")
    assert item is not None and item.get("message") == "command exited with code 1"
    loop = cases["compile"].find("failure")
    assert loop is not None
    assert "step 'compile[lcode.c].cc' failed" in (loop.get("message") or "")
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("9", "3", "2")


def test_fail_fast_cancelled_and_rolled_back(ws: Workspace) -> None:
    spec = ws.spec(FAIL_FAST)
    junit = ws.path("junit.xml")
    result = ws.run(spec, "--junit", str(junit))
    assert result.code == 1, result.explain()
    cases = valid(junit)
    assert set(cases) == {"charge", "slow", "boom"}
    skipped = cases["slow"].find("skipped")
    assert skipped is not None and (skipped.get("message") or "").startswith("cancelled")
    assert cases["boom"].find("failure") is not None
    assert "rolled back" in (cases["charge"].findtext("system-out") or "")
    assert cases["charge"].find("failure") is None and cases["charge"].find("skipped") is None


def test_cached_and_up_to_date_steps_pass_and_say_why(ws: Workspace) -> None:
    spec = ws.spec(REUSED)
    ws.path("in.txt").write_text("data\n")
    first = ws.run(spec, "--junit", str(ws.path("first.xml")))
    assert first.code == 0, first.explain()
    cases = valid(ws.path("first.xml"))
    assert cases["fetch"].findtext("system-out") is None
    # The agent a step ran on is a note: junit-10.xsd has no <properties> in a testcase.
    assert [child.tag for child in cases["scan"]] == ["system-out"]
    assert cases["scan"].findtext("system-out") == "agent: scanner"
    second = ws.run(spec, "--junit", str(ws.path("second.xml")))
    assert second.code == 0, second.explain()
    assert ws.path("fetch.count").read_text() == "fetched\n"  # the second run used the cache
    cases = valid(ws.path("second.xml"))
    assert [child.tag for child in cases["fetch"]] == ["system-out"]
    assert cases["fetch"].findtext("system-out") == (
        "cached: not run, its outputs came from the step cache"
    )
    assert cases["build"].findtext("system-out") == (
        "up to date: not run, its sources and definition had not changed"
    )


RESUMED = """
name: resumed
steps:
  - id: prepare
    run: echo prepared
  - id: gate
    dependencies: [prepare]
    run: test -f ready
    retry_policy: {max_attempts: 2, delay: 0.01}
  - id: compile
    type: loop
    dependencies: [gate]
    loop:
      for_each: ["lapi.c", "lcode.c"]
      steps:
        - id: cc
          run: echo compiled
"""


def test_resume_writes_the_whole_run_as_junit_and_html(ws: Workspace) -> None:
    spec = ws.spec(RESUMED)
    failed = ws.run(spec, "--junit", str(ws.path("first.xml")))
    assert failed.code == 1, failed.explain()
    cases = valid(ws.path("first.xml"))
    assert [child.tag for child in cases["gate"]] == ["failure", "rerunFailure", "system-out"]
    ws.path("ready").write_text("")
    junit, page = ws.path("resumed.xml"), ws.path("resumed.html")
    resumed = ws.resume(failed.run.run_id, "--junit", str(junit), "--html-report", str(page))
    assert resumed.code == 0, resumed.explain()
    cases = valid(junit)
    # The steps of the earlier session are in the report too; the gate passed on the
    # first attempt of this session, so its earlier failures are not reruns of it.
    assert set(cases) == {"prepare", "gate", "compile", "compile[lapi.c].cc", "compile[lcode.c].cc"}
    assert all(case.find("failure") is None for case in cases.values())
    assert [child.tag for child in cases["gate"]] == []
    assert "<td>compile[lcode.c].cc</td>" in page.read_text()
    # Resumed again, the run is complete: nothing runs, and the reports come from its
    # report.json, the same test cases (the gate's failed attempts of the first session
    # stay out: it passed on the first attempt of the last session that ran it).
    again_xml, again_html = ws.path("again.xml"), ws.path("again.html")
    again = ws.resume(
        failed.run.run_id, "--junit", str(again_xml), "--html-report", str(again_html)
    )
    assert again.code == 0 and "already complete" in again.stdout, again.explain()
    again_cases = valid(again_xml)
    assert {name: [c.tag for c in case] for name, case in again_cases.items()} == {
        name: [c.tag for c in case] for name, case in cases.items()
    }
    assert "<td>compile[lcode.c].cc</td>" in again_html.read_text()
