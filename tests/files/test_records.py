"""Step records on disk: the two-line format, old records, damage, and what a no-op reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flowctl.files import freshness
from flowctl.state import fingerprints
from flowctl.state.fingerprints import SourceTable, StepFiles, stamps_digest
from tests.files.test_up_to_date import _fresh, _ran, _run, _tree

ALL = {"compile_a", "compile_b", "link"}


def _records(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / ".flowctl" / "fingerprints").glob("*/*.json"))


def test_a_no_op_reads_no_source_and_decodes_no_source_columns(
    tmp_path: Path, monkeypatch: Any
) -> None:
    _tree(tmp_path)
    _run(tmp_path)
    _ran(tmp_path)
    hashed: list[str] = []
    decoded: list[Any] = []
    real_digest, real_columns = freshness.file_digest, SourceTable.from_json.__func__

    def digest(path: Path) -> str:
        hashed.append(path.name)
        return real_digest(path)

    def columns(cls: type[SourceTable], data: Any) -> SourceTable | None:
        decoded.append(data)
        return real_columns(cls, data)

    monkeypatch.setattr(freshness, "file_digest", digest)
    monkeypatch.setattr(SourceTable, "from_json", classmethod(columns))
    assert _fresh(_run(tmp_path)) == ALL
    assert hashed == [] and decoded == []
    (tmp_path / "b.src").write_text("BETA\n")  # one change: that step's columns are read
    result = _run(tmp_path)
    assert _fresh(result) == {"compile_a"}
    assert hashed.count("b.src") == 1 and "a.src" not in hashed
    assert len(decoded) >= 1


def test_a_version_1_record_still_counts_and_is_rewritten(tmp_path: Path) -> None:
    _tree(tmp_path)
    _run(tmp_path)
    _ran(tmp_path)
    for path in _records(tmp_path):
        record = StepFiles.decode(path.read_bytes())
        assert record is not None
        table = record.sources
        old = {
            "version": 1,
            "fingerprint": record.fingerprint,
            "parts": dict(record.parts),
            "sources": {
                p: [m, s, d]
                for p, m, s, d in zip(
                    table.paths, table.mtimes, table.sizes, table.digests, strict=True
                )
            },
            "generates": {p: list(f) for p, f in record.generates.items()},
            "outputs": dict(record.outputs),
            "run_id": record.run_id,
        }
        path.write_text(json.dumps(old))
    result = _run(tmp_path)
    assert _fresh(result) == ALL and _ran(tmp_path) == []
    assert result.step("compile_a").outputs["size"] == "6"
    for path in _records(tmp_path):
        assert json.loads(path.read_text().splitlines()[0])["version"] == 2


def test_damaged_source_columns_cost_a_rehash_not_a_wrong_verdict(tmp_path: Path) -> None:
    _tree(tmp_path)
    _run(tmp_path)
    _ran(tmp_path)
    for path in _records(tmp_path):
        head = path.read_text().splitlines()[0]
        path.write_text(head + "\n{not json")
    assert _fresh(_run(tmp_path)) == ALL  # stamps unchanged: the columns are not needed
    (tmp_path / "a.src").write_text("ALPHA\n")
    for path in _records(tmp_path):
        head = path.read_text().splitlines()[0]
        path.write_text(head + '\n{"paths": 3}')
    result = _run(tmp_path)
    assert _fresh(result) == {"compile_b"}  # hashed again, and b.src's digest still matches
    assert sorted(_ran(tmp_path)) == ["compile_a", "link"]


def test_unreadable_records_are_not_up_to_date(tmp_path: Path) -> None:
    for data in (b"", b"[]", b'{"version": 9}\n{}', b'{"version": 2}', b"\xff\n"):
        assert StepFiles.decode(data) is None
    good = StepFiles.of(
        fingerprint="f",
        parts={"sources": "s"},
        sources=SourceTable(["a"], [1], [2], ["d"]),
        generates={"o": ("o",)},
        outputs={},
        run_id=None,
    )
    data = good.encode()
    assert data.count(b"\n") == 1
    again = StepFiles.decode(data)
    assert again is not None and again.sources.digests == ["d"]
    assert again.stamps == stamps_digest(["a"], [1], [2])
    assert StepFiles.decode(data.split(b"\n")[0]) is None  # the columns line is missing


def test_stamps_tell_paths_times_and_sizes_apart() -> None:
    base = stamps_digest(["a", "b"], [1, 2], [3, 4])
    assert base == stamps_digest(["a", "b"], [1, 2], [3, 4])
    others = [
        stamps_digest(["a", "c"], [1, 2], [3, 4]),
        stamps_digest(["a", "b"], [1, 3], [3, 4]),
        stamps_digest(["a", "b"], [1, 2], [3, 5]),
        stamps_digest(["a\0b"], [1], [3]),
        stamps_digest(["a", "b"], [1, 2**70], [3, 4]),  # a time past 2262 still digests
    ]
    assert len({base, *others}) == 6
    assert fingerprints.SourceTable.from_json({"paths": ["a"], "mtimes": [1]}) is None
