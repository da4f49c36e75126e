"""The agents of ocr_pipeline.yaml: small, deterministic stand-ins for OCR engines.

fast_ocr fails some pages from batch OUTAGE_FROM on (which pages is decided by the batch
and page numbers, so every regeneration of the history shows the same story).
"""

from __future__ import annotations

import time
from typing import Any

OUTAGE_FROM = 12  # the first batch in which fast_ocr starts failing


def split(pages: int) -> dict[str, Any]:
    return {"pages": list(range(1, pages + 1))}


def fast_ocr(page: int, batch: int, ctx: Any) -> dict[str, Any]:
    time.sleep(0.01)
    if batch >= OUTAGE_FROM and (batch + page) % 10 != 0:
        raise RuntimeError(f"fast_ocr: model server returned 503 for page {page}")
    return {"text": f"page {page}", "agent": ctx.agent}


def accurate_ocr(page: int, batch: int, ctx: Any) -> dict[str, Any]:
    time.sleep(0.04)
    return {"text": f"page {page}", "agent": ctx.agent}


def layout(pages: list[int]) -> dict[str, Any]:
    return {"columns": 2 if len(pages) > 3 else 1}


def merge(iterations: list[dict[str, Any]], columns: int) -> dict[str, Any]:
    texts = [iteration["ocr"]["text"] for iteration in iterations]
    return {"text": " | ".join(texts), "columns": columns}
