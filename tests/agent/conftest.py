"""Generated documents for the agent's tests: invoices and reports with known words at known places."""

from __future__ import annotations

from pathlib import Path

import pymupdf
import pytest

INVOICE_LINES = [  # (x, baseline y, font size, text)
    (72, 80, 20, "ACME WIDGETS LTD"),
    (72, 104, 10, "12 Harbour Road, Springfield 40400"),
    (72, 118, 10, "Tel: 555-0101"),
    (72, 150, 11, "Invoice No: 8841"),
    (72, 166, 11, "Date: 03 Mar 2021"),
    (72, 200, 11, "Widget, 2 pcs"),
    (300, 200, 11, "10.00"),
    (72, 216, 11, "Subtotal"),
    (300, 216, 11, "10.00"),
    (72, 232, 11, "Tax 6%"),
    (300, 232, 11, "0.60"),
    (72, 248, 11, "Total"),
    (300, 248, 11, "10.60"),
    (72, 264, 11, "Cash"),
    (300, 264, 11, "20.00"),
    (72, 280, 11, "Change"),
    (300, 280, 11, "9.40"),
]


def write_pdf(path: Path, pages: list[list[tuple[float, float, float, str]]]) -> str:
    doc = pymupdf.open()
    for lines in pages:
        page = doc.new_page()
        for x, y, size, text in lines:
            page.insert_text((x, y), text, fontsize=size)
    doc.save(path)
    return str(path)


def text_box(path: str, page: int, text: str) -> pymupdf.Rect:
    """Where MuPDF itself finds `text` on the page (displayed points)."""
    with pymupdf.open(path) as doc:
        [rect] = doc[page].search_for(text)
        return rect


@pytest.fixture(scope="session")
def invoice_pdf(tmp_path_factory) -> str:
    return write_pdf(tmp_path_factory.mktemp("invoice") / "invoice.pdf", [INVOICE_LINES])
