"""Small local "agents" for examples/document_processing.yaml.

Each is a plain function flowctl calls with the step's params as keyword arguments (plus
`ctx` when it asks for it) and whose returned mapping becomes the step's outputs. They read
local files only, so the example runs anywhere.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PAGE_BREAK = "\f"


def _document(path: str) -> Path:
    candidate = Path(path)
    if not candidate.is_absolute() and not candidate.exists():
        candidate = HERE / path  # let the example run from any directory
    if not candidate.is_file():
        raise FileNotFoundError(f"no document at {path}")
    return candidate


def load_document(document: str) -> dict[str, Any]:
    """Split the document into pages."""
    text = _document(document).read_text(encoding="utf-8")
    pages = [p.strip() for p in text.split(PAGE_BREAK) if p.strip()]
    return {"path": str(document), "pages": pages, "page_count": len(pages)}


def ocr(pages: list[str]) -> dict[str, Any]:
    """Stand-in for OCR: normalise whitespace and count words per page."""
    cleaned = [re.sub(r"[ \t]+", " ", p) for p in pages]
    return {"text": "\n\n".join(cleaned), "words": sum(len(p.split()) for p in cleaned)}


def extract_metadata(pages: list[str]) -> dict[str, Any]:
    """Pull the title line and the dates out of the first page."""
    first = pages[0] if pages else ""
    dates = re.findall(r"\b\d{4}-\d{2}-\d{2}\b", "\n".join(pages))
    return {"title": first.splitlines()[0] if first else "", "dates": dates}


def classify(text: str, title: str) -> dict[str, Any]:
    """Route by document type from a few keywords."""
    lowered = f"{title}\n{text}".lower()
    for kind, words in (("invoice", ("invoice", "total due")), ("contract", ("agreement",))):
        if any(w in lowered for w in words):
            return {"doc_type": kind, "confidence": 0.9}
    return {"doc_type": "other", "confidence": 0.5}


def analyze_page(page: str, number: int) -> dict[str, Any]:
    """Per-page work inside the loop: amounts found on the page."""
    amounts = [float(a) for a in re.findall(r"\b\d+\.\d{2}\b", page)]
    return {"page": number, "amounts": amounts, "lines": len(page.splitlines())}


def process_invoice(text: str, pages: list[dict[str, Any]]) -> dict[str, Any]:
    """Invoice branch: the total is the largest amount seen on any page."""
    amounts = [a for p in pages for a in p.get("amounts", [])]
    match = re.search(r"INVOICE\s+#(\S+)", text)
    return {"invoice_number": match.group(1) if match else None, "total": max(amounts, default=0.0)}


def process_generic(text: str) -> dict[str, Any]:
    """Fallback branch for documents that are not invoices."""
    return {"summary": text[:80]}


def validate_quality(words: int, pages: int, threshold: float, ctx: Any) -> dict[str, Any]:
    """Quality gate; the first attempt fails once to show retry with backoff."""
    if ctx.attempt == 1:
        raise RuntimeError("quality service busy, try again")
    score = round(min(1.0, words / max(pages, 1) / 10), 3)
    ctx.metric("quality_score", score)
    if score < threshold:
        raise ValueError(f"quality score {score} is below {threshold}")
    return {"score": score}
