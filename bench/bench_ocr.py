"""OCR engines side by side: `python bench/bench_ocr.py [--n 40] [--pages 12] [--threads 1 2]`.

Engines, all through `vlm_engine.media.ocr.get_ocr_engine`:
(a) rapidocr NT: the default engine with N onnxruntime threads (default: every core the process may use;
    `--threads 1 2` gives a column per count).
(b) tesseract: the Tesseract CLI (eng, `--psm 3`, one OpenMP thread), the column every ratio divides by.
    Left out, with a note, when the binary is not installed.

Part 1, the corpus receipts (real scans). Character error rate (CER) = edits / ground-truth characters, summed
over all receipts:
- grounded: per ground-truth line, the OCR words whose box centre lies in the line box (grown by a quarter of
  its height; a word goes to the nearest such line), joined left to right. Independent of reading order;
  text outside every ground-truth line is not counted.
- page: all lines of a receipt in reading order (rows by vertical overlap, then left to right) for the OCR and
  for the ground truth alike, joined by newlines.
Each under three normalisations: `loose` ignores case and whitespace (the headline: SROIE transcripts are
mostly upper case and space words inconsistently), `spaced` ignores case and counts spaces (whitespace
collapsed), `exact` is case-sensitive with whitespace collapsed.
Part 2, rendered pages (clean text this script draws in DejaVu fonts, seeded): the share of words read exactly
with a box of IoU > 0.5 against the word's drawn box, and the mean IoU of those.
Times are seconds per image after one warm-up read per engine, the engines interleaved image by image.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vlm_engine.grounding import Box
from vlm_engine.media.ocr import OcrLine, OcrUnavailableError, get_ocr_engine

CORPUS = Path(os.environ.get("SIGHTLINE_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus"))
RECEIPTS = CORPUS / "receipts"
FONTS = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = [
    "DejaVuSans.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSansCondensed.ttf",
    "DejaVuSans-Bold.ttf",
]
VOCABULARY = [
    "invoice",
    "order",
    "number",
    "amount",
    "paid",
    "balance",
    "due",
    "customer",
    "account",
    "payment",
    "method",
    "reference",
    "station",
    "window",
    "garden",
    "market",
    "river",
    "planet",
    "yellow",
    "quick",
    "simple",
    "table",
    "chair",
    "paper",
    "metal",
    "water",
    "engine",
]

Text = list[tuple[Box, str]]  # boxed strings: words or lines
Reader = Callable[[Image.Image], list[OcrLine]]

NORMS: dict[str, Callable[[str], str]] = {
    "loose": lambda s: "".join(s.split()).casefold(),
    "spaced": lambda s: " ".join(s.split()).casefold(),
    "exact": lambda s: " ".join(s.split()),
}


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insert, delete, substitute: 1 each), one numpy row per character of the longer string."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    codes = np.array([ord(c) for c in b])
    cols = np.arange(len(b) + 1)
    row = cols.copy()
    for ch in a:
        best = np.empty_like(row)  # best without insertions inside this row: deletion or (mis)match
        best[0] = row[0] + 1
        best[1:] = np.minimum(row[1:] + 1, row[:-1] + (codes != ord(ch)))
        # insertions: row[j] = min over k <= j of best[k] + (j - k)
        row = cols + np.minimum.accumulate(best - cols)
    return int(row[-1])


def ground_truth(stem: str) -> Text:
    """The receipt's text lines: `x1,y1,...,x4,y4,transcript`, split on the first 8 commas only."""
    lines = []
    for row in (RECEIPTS / "box" / f"{stem}.csv").read_text(encoding="utf-8").splitlines():
        parts = row.split(",", 8)
        if len(parts) == 9:
            xy = [float(v) for v in parts[:8]]
            lines.append((Box.from_points(list(zip(xy[0::2], xy[1::2], strict=True))), parts[8]))
    return lines


def grounded_cer_counts(words: Text, truth: Text, norm: Callable[[str], str]) -> tuple[int, int]:
    """(edits, ground-truth characters) with each OCR word assigned to the ground-truth line holding it."""
    assigned: dict[int, Text] = {}
    for box, text in words:
        cx, cy = box.center
        holders = []
        for i, (line, _) in enumerate(truth):
            grown = line.expanded(margin=0.25 * line.height)
            if grown.x0 <= cx <= grown.x1 and grown.y0 <= cy <= grown.y1:
                holders.append(i)
        if holders:
            nearest = min(holders, key=lambda i: abs(truth[i][0].center[1] - cy))
            assigned.setdefault(nearest, []).append((box, text))
    edits = chars = 0
    for i, (_, transcript) in enumerate(truth):
        hypothesis = " ".join(text for _, text in sorted(assigned.get(i, []), key=lambda w: w[0].x0))
        reference = norm(transcript)
        edits += levenshtein(norm(hypothesis), reference)
        chars += len(reference)
    return edits, chars


def reading_order(lines: Text) -> str:
    """Rows of lines whose vertical centres are within half a line height, top to bottom, left to right."""
    rows: list[tuple[float, float, Text]] = []
    for box, text in sorted(lines, key=lambda line: line[0].center[1]):
        if rows and abs(box.center[1] - rows[-1][0]) < 0.5 * rows[-1][1]:
            rows[-1][2].append((box, text))
        else:
            rows.append((box.center[1], box.height, [(box, text)]))
    return "\n".join(" ".join(text for _, text in sorted(row, key=lambda w: w[0].x0)) for _, _, row in rows)


def words_of(lines: list[OcrLine]) -> Text:
    return [(w.box, w.text) for line in lines for w in line.words]


def timed(read: Reader, image: Image.Image, seconds: list[float]) -> list[OcrLine]:
    started = time.perf_counter()
    lines = read(image)
    seconds.append(time.perf_counter() - started)
    return lines


def bench_receipts(engines: dict[str, Reader], stems: list[str]) -> list[tuple[str, dict[str, float], str]]:
    seconds: dict[str, list[float]] = {name: [] for name in engines}
    counts = {
        (name, kind, norm): [0, 0] for name in engines for kind in ("grounded", "page") for norm in NORMS
    }
    for stem in stems:
        truth = ground_truth(stem)
        truth_page = reading_order(truth)
        with Image.open(RECEIPTS / "img" / f"{stem}.jpg") as image:
            image.load()
        for name, read in engines.items():
            lines = timed(read, image, seconds[name])
            page = reading_order([(line.box, line.text) for line in lines])
            for norm_name, norm in NORMS.items():
                edits, chars = grounded_cer_counts(words_of(lines), truth, norm)
                counts[name, "grounded", norm_name][0] += edits
                counts[name, "grounded", norm_name][1] += chars
                reference = norm(truth_page)
                counts[name, "page", norm_name][0] += levenshtein(norm(page), reference)
                counts[name, "page", norm_name][1] += len(reference)
    rows = []
    for kind in ("grounded", "page"):
        for norm_name in NORMS:
            cer = {
                name: counts[name, kind, norm_name][0] / counts[name, kind, norm_name][1] for name in engines
            }
            rows.append((f"{kind} CER {norm_name}", cer, ".4f"))
    rows.append(("s/receipt mean", {name: statistics.mean(seconds[name]) for name in engines}, ".3f"))
    rows.append(("s/receipt median", {name: statistics.median(seconds[name]) for name in engines}, ".3f"))
    return rows


def render_page(rng: random.Random, index: int) -> tuple[Image.Image, list[tuple[str, Box]]]:
    """A 900 x 900 page of random words (numbers, dates, codes, punctuation) and each word's drawn box."""
    face = ImageFont.truetype(
        str(FONTS / FONT_FILES[index % len(FONT_FILES)]), rng.choice([14, 18, 22, 26, 32])
    )
    image = Image.new("RGB", (900, 900), "white")
    draw = ImageDraw.Draw(image)
    words: list[tuple[str, Box]] = []
    y = 20
    while y < 840:
        x = float(rng.randint(10, 60))
        for _ in range(rng.randint(1, 5)):
            word = token(rng)
            box = Box(*draw.textbbox((x, y), word, font=face))
            if box.x1 > 880:
                break
            draw.text((x, y), word, font=face, fill="black")
            words.append((word, box))
            x = box.x1 + draw.textlength(" ", font=face) * rng.choice([1, 1, 1, 2, 3])
        y += int(face.size * rng.uniform(1.6, 2.4))
    return image, words


def token(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.5:
        word = rng.choice(VOCABULARY)
    elif kind < 0.65:
        word = f"{rng.randint(1, 9999)}.{rng.randint(0, 99):02d}"
    elif kind < 0.75:
        word = f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/20{rng.randint(10, 30)}"
    elif kind < 0.85:
        word = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(rng.randint(2, 8)))
    else:
        word = rng.choice(VOCABULARY) + rng.choice(":,.")
    case = rng.random()
    return word.upper() if case < 0.4 else word.capitalize() if case < 0.6 else word


def bench_rendered(engines: dict[str, Reader], pages: int) -> list[tuple[str, dict[str, float], str]]:
    rng = random.Random(7)
    rendered = [render_page(rng, i) for i in range(pages)]
    seconds: dict[str, list[float]] = {name: [] for name in engines}
    hits: dict[str, list[float]] = {name: [] for name in engines}  # IoU of each word read exactly
    total = sum(len(words) for _, words in rendered)
    for image, truth in rendered:
        for name, read in engines.items():
            words = words_of(timed(read, image, seconds[name]))
            for text, box in truth:
                best = max(words, key=lambda w: w[0].iou(box), default=None)
                if best is not None and best[1] == text and best[0].iou(box) > 0.5:
                    hits[name].append(best[0].iou(box))
    return [
        ("words exact, IoU>0.5", {name: len(hits[name]) / total for name in engines}, ".4f"),
        ("mean IoU of those", {name: statistics.mean(hits[name] or [0.0]) for name in engines}, ".4f"),
        ("s/page mean", {name: statistics.mean(seconds[name]) for name in engines}, ".3f"),
    ]


def print_table(title: str, rows: list[tuple[str, dict[str, float], str]]) -> None:
    names = list(rows[0][1])
    base = names[-1]  # tesseract when installed, else the last rapidocr column
    others = names[:-1]
    print(f"\n{title}; ratio = column / {base}")
    print(
        f"{'':22}"
        + "".join(f"{name:>16}" for name in names)
        + "".join(f"{name + ' ratio':>20}" for name in others)
    )
    for label, values, fmt in rows:
        ratios = "".join(
            f"{values[n] / values[base]:>20.2f}" if values[base] else f"{'-':>20}" for n in others
        )
        print(f"{label:22}" + "".join(f"{values[name]:>16{fmt}}" for name in names) + ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="how many receipts (default 40)")
    parser.add_argument("--pages", type=int, default=12, help="how many rendered pages (default 12; 0: none)")
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[len(os.sched_getaffinity(0))],
        help="rapidocr thread counts (default: the cores this process may use)",
    )
    args = parser.parse_args()
    engines: dict[str, Reader] = {
        f"rapidocr {n}T": get_ocr_engine("rapidocr", threads=n).read for n in args.threads
    }
    try:
        engines["tesseract"] = get_ocr_engine("tesseract").read
    except OcrUnavailableError as exc:
        print(f"no baseline column: {exc}")
    warm_up = Image.new("RGB", (400, 100), "white")
    ImageDraw.Draw(warm_up).text((10, 30), "Warm up 12.50", fill="black")
    for read in engines.values():
        read(warm_up)
    print(f"{os.cpu_count()} CPUs")

    stems = sorted(p.stem for p in (RECEIPTS / "img").glob("*.jpg"))[: args.n]
    if stems:
        print_table(f"OCR on {len(stems)} receipts of {RECEIPTS}", bench_receipts(engines, stems))
    else:
        print(f"no receipts under {RECEIPTS} (set SIGHTLINE_CORPUS): part 1 skipped")
    if args.pages and all((FONTS / f).exists() for f in FONT_FILES):
        print_table(f"OCR on {args.pages} rendered pages", bench_rendered(engines, args.pages))
    elif args.pages:
        print(f"DejaVu fonts missing under {FONTS}: part 2 skipped")


if __name__ == "__main__":
    main()
