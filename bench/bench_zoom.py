"""Zoom on small printed text: reading a low-resolution look alone, against the same look with zoomed
re-reads. `python bench/bench_zoom.py [--pages 10] [--dpi 72,100] [--seed 0]`.

The set (generated, seeded): scanned pages, i.e. PDFs whose only content is a 300-dpi picture of a
printed page (pymupdf renders a page of text, the picture goes on a fresh page: no text layer). Each page
has a heading and body lines at 11 pt, and six small labels "Lot: CODE" at 5, 6 or 7 pt, where CODE is 8
characters from an alphabet without look-alikes (no O/0, I/1). A code counts as read when it appears
exactly (case and spaces ignored) in one line the reader returns.

Ways, on the same pages, through `vlm_engine.agent.zoom.read_text` with the default OCR engine:
(a) look only: the whole page rendered at `--dpi` and OCR'd once (what a reader sees at that budget);
(b) look + zoom: the same look, then every line under 16 px tall in the look read with confidence under
    0.97, or any read under 0.85, is rendered again from the page (`PdfPage.render_view` of
    `grounding.zoom_view`: the line 32 px tall, with context) and OCR'd again, the zoomed reading
    replacing the line; and every band of ink shaped like a line of small text that no line covers
    (text the look could not even find) is zoomed on and read the same way.
Columns: codes read exactly, OCR calls, seconds per page; the ratio (b)/(a) of each.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import pymupdf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vlm_engine.agent.trace import Trace
from vlm_engine.agent.zoom import DEFAULT_ZOOM, read_text
from vlm_engine.media.pdf import PdfDocument

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
BODY = [
    "Shipment inspected at the receiving dock and logged in the register.",
    "Store below 25 degrees, away from direct sunlight and moisture.",
    "Quality control signed off the batch after the second sampling.",
    "Any damaged carton must be reported within two working days.",
    "Pallets are stacked at most three high in the cold storage aisle.",
]
SMALL_SIZES = (5.0, 6.0, 7.0)
LABELS_PER_PAGE = 6


def make_scans(path: Path, pages: int, seed: int) -> list[list[tuple[str, float]]]:
    """Write the scanned PDF; return each page's (code, font size) pairs."""
    rng = random.Random(seed)
    truth: list[list[tuple[str, float]]] = []
    out = pymupdf.open()
    for index in range(pages):
        printed = pymupdf.open()
        page = printed.new_page(width=420, height=595)
        page.insert_text((36, 48), f"Goods received note {index + 1}", fontsize=16)
        for row, text in enumerate(rng.sample(BODY, 4)):
            page.insert_text((36, 80 + 16 * row), text, fontsize=11)
        codes = []
        for row in range(LABELS_PER_PAGE):
            code = "".join(rng.choice(ALPHABET) for _ in range(8))
            size = rng.choice(SMALL_SIZES)
            x, y = rng.uniform(36, 250), 170 + row * 65 + rng.uniform(0, 30)
            page.insert_text((x, y), f"Lot: {code}", fontsize=size)
            codes.append((code, size))
        truth.append(codes)
        picture = page.get_pixmap(dpi=300)
        scan = out.new_page(width=420, height=595)
        scan.insert_image(scan.rect, pixmap=picture)
        printed.close()
    out.save(path)
    out.close()
    return truth


def read_pages(path: Path, dpi: float, zoom: bool) -> tuple[list[str], int, float]:
    """Every page's lines as one list of texts, the OCR calls made, and the seconds spent."""
    texts: list[str] = []
    calls = 0
    started = time.perf_counter()
    with PdfDocument.open(path) as doc:
        for index in range(doc.page_count):
            page = doc.page(index)
            trace = Trace()
            lines = read_text(
                page.render_view,
                (page.width, page.height),
                page.view_at(dpi),
                index,
                trace,
                DEFAULT_ZOOM if zoom else None,
            )
            texts.extend(f"{index}:" + line.text for line in lines)
            calls += 1 + sum(s.outputs.get("zoomed", 0) for s in trace.steps if s.tool.startswith("zoom_"))
    return texts, calls, time.perf_counter() - started


def accuracy(truth: list[list[tuple[str, float]]], texts: list[str], size: float | None = None) -> float:
    by_page: dict[int, list[str]] = {}
    for text in texts:
        page, _, line = text.partition(":")
        by_page.setdefault(int(page), []).append("".join(line.split()).upper())
    hits = total = 0
    for index, codes in enumerate(truth):
        for code, printed_size in codes:
            if size is not None and printed_size != size:
                continue
            total += 1
            hits += any(code in line for line in by_page.get(index, []))
    return hits / max(1, total)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--dpi", default="72,100", help="look resolutions, comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scans.pdf"
        truth = make_scans(path, args.pages, args.seed)
        codes = sum(len(c) for c in truth)
        print(
            f"{args.pages} scanned pages, {codes} small codes at {', '.join(f'{s:g}' for s in SMALL_SIZES)} pt"
        )
        header = f"{'look dpi':>8}  {'way':<13}{'exact':>7}" + "".join(
            f"{f'{s:g} pt':>7}" for s in SMALL_SIZES
        )
        print(header + f"{'OCR calls':>11}{'s/page':>8}")
        for dpi in (float(d) for d in args.dpi.split(",")):
            rows = {}
            for way, zoom in (("look only", False), ("look + zoom", True)):
                texts, calls, seconds = read_pages(path, dpi, zoom)
                rows[way] = (accuracy(truth, texts), calls, seconds / args.pages)
                sizes = "".join(f"{accuracy(truth, texts, s):>7.2f}" for s in SMALL_SIZES)
                print(f"{dpi:>8.0f}  {way:<13}{rows[way][0]:>7.2f}{sizes}{calls:>11}{rows[way][2]:>8.2f}")
            (a, ca, sa), (b, cb, sb) = rows["look only"], rows["look + zoom"]
            ratio = f"{b / a:.2f}x" if a else "inf" if b else "-"
            print(f"{'':>8}  {'zoom/look':<13}{ratio:>7}{'':>21}{cb / ca:>10.1f}x{sb / sa:>7.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
