"""JUnit XML: one testcase per step, parseable whatever the steps printed."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowctl.errors import ExitCode, UsageError
from flowctl.junit import StepReport, step_reports, write_junit
from flowctl.runner.events import StepFinished
from flowctl.runner.results import StepResult
from flowctl.spec.model import StepType
from flowctl.status import StepStatus


def read(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def test_every_step_is_a_testcase_with_its_outcome(tmp_path: Path) -> None:
    path = tmp_path / "out" / "junit.xml"
    steps = [
        StepReport(id="extract", status=StepStatus.COMPLETED, duration=1.2),
        StepReport(
            id="ocr",
            status=StepStatus.FAILED,
            duration=0.5,
            error="exit code 3: <no text> & more\nsecond line",
            log_tail="tesseract: error\nbye",
        ),
        StepReport(id="review", status=StepStatus.SKIPPED, duration=0, reason="ocr failed"),
        StepReport(id="notify", status=StepStatus.CANCELLED, duration=0.1),
        StepReport(id="approve", status=StepStatus.WAITING, duration=0),
        StepReport(id="charge", status=StepStatus.ROLLED_BACK, duration=2),
    ]
    write_junit(path, "20261125T163400Z-3fa9c1", "docs", steps)
    assert path.read_bytes().startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = read(path)
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    for element in (root, suite):
        assert element.get("tests") == "6"
        assert element.get("failures") == "1"
        assert element.get("errors") == "0"
        assert element.get("time") == "3.800"
    # junit-10.xsd has `skipped` on <testsuite> only.
    assert (suite.get("skipped"), root.get("skipped")) == ("3", None)
    assert suite.get("name") == "docs"
    prop = suite.find("properties/property")
    assert prop is not None and prop.attrib == {
        "name": "run_id",
        "value": "20261125T163400Z-3fa9c1",
    }
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == ["extract", "ocr", "review", "notify", "approve", "charge"]
    assert cases["extract"].attrib == {"name": "extract", "classname": "docs", "time": "1.200"}
    assert len(cases["extract"]) == 0
    failure = cases["ocr"].find("failure")
    assert failure is not None
    assert failure.get("message") == "exit code 3: <no text> & more"
    assert failure.text == (
        "exit code 3: <no text> & more\nsecond line\n\n"
        "last lines of the log:\ntesseract: error\nbye"
    )
    skipped = {name: cases[name].find("skipped") for name in ("review", "notify", "approve")}
    assert {k: v.get("message") for k, v in skipped.items() if v is not None} == {
        "review": "skipped: ocr failed",
        "notify": "cancelled",
        "approve": "waiting for approval",
    }
    out = cases["charge"].find("system-out")
    assert out is not None and "rolled back" in (out.text or "")
    assert cases["charge"].find("failure") is None and cases["charge"].find("skipped") is None


def test_control_characters_never_make_the_file_unparseable(tmp_path: Path) -> None:
    path = tmp_path / "j.xml"
    nasty = "a\x00b\x1b[31mc\x07\ud800\ufffe]]>&<'\""
    write_junit(
        path,
        "r",
        "w\x01",
        [StepReport(id=f"s{nasty}", status=StepStatus.FAILED, duration=1, error=nasty)],
    )
    failure = read(path).find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.text == "a\ufffdb\ufffd[31mc\ufffd\ufffd\ufffd]]>&<'\""


@settings(max_examples=40, deadline=None)
@given(
    ids=st.lists(st.text(max_size=20), min_size=1, max_size=5),
    error=st.text(max_size=60),
    tail=st.text(max_size=60),
)
def test_any_text_gives_well_formed_xml(
    tmp_path_factory: pytest.TempPathFactory, ids: list[str], error: str, tail: str
) -> None:
    path = tmp_path_factory.mktemp("junit") / "j.xml"
    steps = [
        StepReport(id=i, status=StepStatus.FAILED, duration=0.5, error=error, log_tail=tail)
        for i in ids
    ]
    write_junit(path, "run", "wf", steps)
    cases = read(path).findall("testsuite/testcase")
    assert len(cases) == len(ids)


def test_the_file_is_replaced_whole_and_no_temp_file_is_left(tmp_path: Path) -> None:
    path = tmp_path / "j.xml"
    path.write_text("old")
    write_junit(path, "r", "w", [StepReport(id="a", status=StepStatus.COMPLETED, duration=0)])
    assert read(path).get("tests") == "1"
    assert sorted(os.listdir(tmp_path)) == ["j.xml"]


def test_an_unwritable_path_is_a_clear_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(UsageError) as caught:
        write_junit(blocker / "j.xml", "r", "w", [])
    assert caught.value.exit_code is ExitCode.USAGE
    assert str(caught.value).startswith(f"cannot write the JUnit report {blocker / 'j.xml'}: ")


def test_step_reports_from_events_keep_the_last_finish_and_read_failure_tails(
    tmp_path: Path,
) -> None:
    log = tmp_path / "b.log"
    log.write_text("".join(f"{i}\n" for i in range(30)))

    def event(step: str, status: StepStatus, log_path: str | None = None) -> StepFinished:
        return StepFinished(
            step=step,
            step_type="action",
            status=status,
            attempts=1,
            duration=1.0,
            ts=0.0,
            error="bad" if status is StepStatus.FAILED else None,
            log_path=log_path,
        )

    reports = step_reports(
        [
            event("a", StepStatus.COMPLETED),
            event("b", StepStatus.FAILED, str(log)),
            event("a", StepStatus.ROLLED_BACK),
        ],
        tail_lines=3,
    )
    assert reports == [
        StepReport(
            id="b", status=StepStatus.FAILED, duration=1.0, error="bad", log_tail="27\n28\n29"
        ),
        StepReport(id="a", status=StepStatus.ROLLED_BACK, duration=1.0),
    ]
    results = [
        StepResult(id="c", step_type=StepType.ACTION, status=StepStatus.SKIPPED, reason="a failed")
    ]
    assert step_reports(results) == [
        StepReport(id="c", status=StepStatus.SKIPPED, duration=0.0, reason="a failed")
    ]


def test_reports_from_a_run_report_use_labels_and_skip_what_they_cannot_read(
    tmp_path: Path,
) -> None:
    from flowctl.junit import reports_from_run_report

    log = tmp_path / "c.log"
    log.write_text("one\ntwo\n")
    report = {
        "steps": [
            {
                "id": "c[0].cc",
                "label": "c[a.c].cc",
                "status": "failed",
                "duration": 1.5,
                "error": "boom",
                "log": str(log),
                "agent": "gpu",
            },
            {"id": "ok", "status": "completed", "duration": True, "cached": True},
            {"id": "odd", "status": "exploded"},
            {"status": "completed"},
            "not a step",
        ]
    }
    assert reports_from_run_report(report, tail_lines=1) == [
        StepReport(
            id="c[a.c].cc",
            status=StepStatus.FAILED,
            duration=1.5,
            error="boom",
            log_tail="two",
            agent="gpu",
        ),
        StepReport(id="ok", status=StepStatus.COMPLETED, duration=0.0, cached=True),
    ]
