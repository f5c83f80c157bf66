"""Document pages rendered with PyMuPDF: titles, paragraphs, tables, key-value forms, receipts, figures.

Design choices:
- A page is laid out top to bottom from blocks drawn at random (kind, font, size, colour, spacing), written
  with PyMuPDF's own text and drawing calls and rendered to the picture size, so the pixels are those of a
  real PDF renderer; a block's box is the rectangle its content occupies, scaled to picture pixels.
- Fonts differ by split: Helvetica and Times train, Courier is held out.
- Form fields and receipt lines carry their key and value in `Thing.label` ("Total: 12.50"), the truth of
  key-value extraction.
"""

from __future__ import annotations

import random

import numpy as np
import pymupdf

from vlm_engine.grounding import Affine, Box
from vlm_engine.train.data.things import Picture, Style, Thing

PAGE = 400.0  # points; pages are square so that the picture (square) is the whole page
WORDS = [
    "report",
    "total",
    "amount",
    "invoice",
    "date",
    "account",
    "service",
    "order",
    "customer",
    "payment",
    "balance",
    "item",
    "quantity",
    "price",
    "summary",
    "review",
    "quarter",
    "revenue",
    "market",
    "policy",
    "delivery",
    "address",
    "number",
    "project",
    "status",
]
KEYS = ("Total", "Date", "Invoice", "Name", "Amount", "Account", "Due", "Order")


def _fonts(style: Style) -> tuple[str, ...]:
    return ("cour",) if style.held_out else ("helv", "tiro")


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(count))


def _key_value(rng: random.Random, key: str) -> str:
    if key == "Date":
        return f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/20{rng.randint(10, 29)}"
    if key in ("Total", "Amount", "Due"):
        return f"{rng.randint(1, 999)}.{rng.randint(0, 99):02d}"
    return str(rng.randint(1000, 99999))


def document(rng: random.Random, style: Style, size: int) -> Picture:
    """One page of 2-5 blocks under a title, rendered to a (size, size) picture."""
    doc = pymupdf.open()
    page = doc.new_page(width=PAGE, height=PAGE)
    font = rng.choice(_fonts(style))
    ink = (0.25, 0.25, 0.25) if style.held_out else rng.choice([(0, 0, 0), (0.05, 0.05, 0.3)])
    margin = rng.uniform(24, 48)
    y = margin
    things: list[Thing] = []
    title = _words(rng, rng.randint(2, 4)).title()
    title_size = rng.uniform(20, 28)
    width = pymupdf.get_text_length(title, fontname=font, fontsize=title_size)
    if width > PAGE - 2 * margin:  # shrink to fit the line
        title_size *= (PAGE - 2 * margin) / width
        width = PAGE - 2 * margin
    page.insert_text((margin, y + title_size), title, fontname=font, fontsize=title_size, color=ink)
    things.append(Thing("title", "", Box(margin, y, margin + width, y + title_size * 1.2), label=title))
    y += title_size * 1.2 + rng.uniform(10, 20)
    for _ in range(rng.randint(2, 5)):
        kind = rng.choice(("paragraph", "paragraph", "table", "figure", "field"))
        block = _block(page, rng, kind, font, ink, margin, y)
        if block is None:
            break
        things.extend(block)
        y = max(t.box.y1 for t in block) + rng.uniform(8, 18)
    pixmap = page.get_pixmap(matrix=pymupdf.Matrix(size / PAGE, size / PAGE), alpha=False)
    pixels = np.frombuffer(pixmap.samples, np.uint8).reshape(size, size, 3).copy()
    to_pixels = Affine.scale(size / PAGE)
    things = [Thing(t.kind, t.colour, to_pixels.apply_box(t.box), t.value, t.label) for t in things]
    doc.close()
    return Picture(pixels, things, "document", "a document page")


def _block(
    page: pymupdf.Page, rng: random.Random, kind: str, font: str, ink: tuple, margin: float, y: float
) -> list[Thing] | None:
    """Draw one block starting at `y`; None when it would not fit on the page."""
    right = PAGE - margin
    if kind == "paragraph":
        size = rng.uniform(8, 11)
        lines = rng.randint(2, 5)
        if y + lines * size * 1.4 > PAGE - margin:
            return None
        for i in range(lines):
            text = _words(rng, rng.randint(6, 10))
            page.insert_text(
                (margin, y + (i + 1) * size * 1.4), text, fontname=font, fontsize=size, color=ink
            )
        return [Thing("paragraph", "", Box(margin, y, right, y + lines * size * 1.4 + size * 0.3))]
    if kind == "table":
        rows, cols = rng.randint(2, 5), rng.randint(2, 4)
        cell_h = rng.uniform(14, 20)
        if y + rows * cell_h > PAGE - margin:
            return None
        cell_w = (right - margin) / cols
        for r in range(rows + 1):
            page.draw_line((margin, y + r * cell_h), (right, y + r * cell_h), color=ink, width=0.8)
        for c in range(cols + 1):
            page.draw_line(
                (margin + c * cell_w, y), (margin + c * cell_w, y + rows * cell_h), color=ink, width=0.8
            )
        for r in range(rows):
            for c in range(cols):
                page.insert_text(
                    (margin + c * cell_w + 3, y + r * cell_h + cell_h * 0.7),
                    _words(rng, 1) if r == 0 else str(rng.randint(1, 999)),
                    fontname=font,
                    fontsize=cell_h * 0.5,
                    color=ink,
                )
        return [Thing("table", "", Box(margin, y, right, y + rows * cell_h))]
    if kind == "figure":
        height = rng.uniform(50, 110)
        if y + height > PAGE - margin:
            return None
        box = Box(margin + rng.uniform(0, 60), y, right - rng.uniform(0, 60), y + height)
        fill = (rng.uniform(0.3, 0.9), rng.uniform(0.3, 0.9), rng.uniform(0.3, 0.9))
        page.draw_rect(pymupdf.Rect(*box.as_list(None)), color=ink, fill=fill, width=1)
        return [Thing("figure", "", box)]
    size = rng.uniform(9, 13)
    keys = rng.sample(KEYS, rng.randint(1, 3))
    if y + len(keys) * size * 1.6 > PAGE - margin:
        return None
    fields = []
    for i, key in enumerate(keys):
        text = f"{key}: {_key_value(rng, key)}"
        baseline = y + (i + 1) * size * 1.6
        page.insert_text((margin, baseline), text, fontname=font, fontsize=size, color=ink)
        width = pymupdf.get_text_length(text, fontname=font, fontsize=size)
        fields.append(
            Thing(
                "field", "", Box(margin, baseline - size, margin + width, baseline + size * 0.3), label=text
            )
        )
    return fields
