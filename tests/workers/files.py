"""Files the worker and integration tests generate: a PDF that hangs the renderer, a PDF slow to read."""

from __future__ import annotations

from pathlib import Path

import pymupdf


def hanging_pdf(path: Path) -> Path:
    """One page, about 50 KB, whose 400,000 full-page fills take MuPDF minutes to render."""
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), "x")
    doc.update_stream(page.get_contents()[0], b"q 0.5 0 0 0.5 10 10 cm 0 0 500 700 re f Q\n" * 400_000)
    doc.save(path, deflate=True)
    return path


def text_pdf(path: Path, pages: int, lines: int = 40) -> Path:
    """`pages` pages of numbered text lines; reading it takes the engine about 25 ms a page here."""
    doc = pymupdf.open()
    for i in range(pages):
        page = doc.new_page()
        for j in range(lines):
            text = f"Line {j} of page {i}: invoice total {i * 100 + j} EUR, the quick brown fox"
            page.insert_text((72, 60 + j * 17), text, fontsize=10)
    doc.save(path)
    return path
