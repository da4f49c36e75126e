"""Python steps for the files tests."""

from __future__ import annotations

from pathlib import Path


def copy_count(root: str, n: int) -> dict[str, int]:
    text = (Path(root) / "a.src").read_text()
    (Path(root) / "a.copy").write_text(f"{text}{n}")
    return {"n": n}
