"""`flowctl validate --executor dask` also reports what cannot run on a Dask worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowctl.commands.validate import run_validate
from flowctl.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ROOT / "examples" / "document_processing.yaml"
CTX_ERROR = (
    "examples/document_processing.yaml:83:5: error: step 'quality': "
    "doc_agents:validate_quality takes `ctx`, which cannot cross to a Dask worker (remove "
    "the parameter, or run with --executor local) (at quality)"
)


def test_a_callable_taking_ctx_is_an_error_under_dask(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code = run_validate([Path("examples/document_processing.yaml")], executor="dask")
    out = capsys.readouterr().out
    assert code == 2
    assert out.splitlines() == [CTX_ERROR, "examples/document_processing.yaml: invalid (1 error)"]


def test_the_same_file_is_valid_for_the_local_executor(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    assert run_validate([Path("examples/document_processing.yaml")]) == 0
    assert (
        capsys.readouterr().out == "examples/document_processing.yaml: ok (13 steps in the file)\n"
    )


def test_a_spec_that_asks_for_dask_is_checked_for_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "validate_ctx_steps.py").write_text("def takes_ctx(ctx):\n    return {}\n")
    spec = tmp_path / "remote.yaml"
    spec.write_text(
        "name: remote\nexecutor: {type: dask}\nsteps:\n"
        "  - id: local_only\n    python: validate_ctx_steps:takes_ctx\n"
    )
    assert run_validate([spec]) == 2
    assert "step 'local_only': validate_ctx_steps:takes_ctx takes `ctx`" in capsys.readouterr().out


def test_an_unknown_executor_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown executor 'ray': choose one of local, dask"):
        run_validate([DOCUMENTS], executor="ray")
