"""Generated documents for the agent's tests (invoices and reports with known words at known places), and
a scripted chat-server "model" that sees red, for the openai backend to talk to."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from PIL import Image

from tests.backends.openai_test_server import DATA_URL

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


def red_mask(body: dict) -> np.ndarray:
    """The red pixels of the one image in a chat-completions request."""
    [image] = [p for p in body["messages"][-1]["content"] if p["type"] == "image_url"]
    data = DATA_URL.fullmatch(image["image_url"]["url"]).group(2)
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")).astype(int)
    return (pixels[..., 0] > 180) & (pixels[..., 1] < 90) & (pixels[..., 2] < 90)


def _permille(mask: np.ndarray, x0: int, x1: int) -> str:
    ys = np.flatnonzero(mask[:, x0:x1].any(axis=1))
    height, width = mask.shape
    values = [x0 / width, ys[0] / height, x1 / width, (ys[-1] + 1) / height]
    return "<box>{},{},{},{}</box>".format(*(round(v * 1000) for v in values))


def red_seer(always_yes: bool = False) -> Callable[[dict], str]:
    """A scripted 'model' for the test chat server that sees red: yes/no to presence questions, the box of
    the red pixels to "Where is", each red blob (blobs apart in x) stated twice to "Find every", the count
    of red blobs plus one to "How many" (a model that miscounts). `always_yes` makes it hallucinate: yes
    to every presence question on any image."""

    def reply(body: dict) -> str:
        text = " ".join(p["text"] for p in body["messages"][-1]["content"] if p["type"] == "text")
        mask = red_mask(body)
        columns = np.flatnonzero(mask.any(axis=0))
        blobs = []
        if columns.size:
            breaks = np.flatnonzero(np.diff(columns) > 1)
            starts = [columns[0], *columns[breaks + 1]]
            ends = [*(columns[breaks] + 1), columns[-1] + 1]
            blobs = list(zip(starts, ends, strict=True))
        if "Is there" in text:
            return "yes" if always_yes or blobs else "no"
        if "Where is" in text:
            return "red square " + _permille(mask, blobs[0][0], blobs[-1][1]) if blobs else "none"
        if "Find every" in text:
            return "".join(_permille(mask, a, b) * 2 for a, b in blobs) or "none"
        if "How many" in text:
            return str(len(blobs) + 1)
        return "no"

    return reply
