"""OCR: real receipts find their ground truth where it is, rendered words come back boxed, bad input is typed."""

from __future__ import annotations

import io
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from vlm_engine.errors import ErrorCode, MediaError
from vlm_engine.grounding import Box, covered_fraction, union_all
from vlm_engine.media import ocr
from vlm_engine.media.limits import MediaLimits
from vlm_engine.media.ocr import OcrLine, OcrUnavailableError, RapidOcrEngine, TesseractEngine, get_ocr_engine

FONTS = Path("/usr/share/fonts/truetype/dejavu")


@pytest.fixture(scope="module")
def engine() -> ocr.OcrEngine:
    return get_ocr_engine()


@pytest.fixture(scope="module", params=["rapidocr", "tesseract"])
def each_engine(request) -> ocr.OcrEngine:
    try:
        return get_ocr_engine(request.param)
    except OcrUnavailableError as exc:
        pytest.skip(str(exc))


def font(size: int, mono: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = FONTS / ("DejaVuSansMono.ttf" if mono else "DejaVuSans.ttf")
    return ImageFont.truetype(str(path), size) if path.exists() else ImageFont.load_default(size=size)


def render(lines: list[tuple[tuple[int, int], str, bool]], size: tuple[int, int], text_size: int):
    """A white page with each (origin, text, monospace) drawn in black; returns it and each word's true box."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    words: list[tuple[str, Box]] = []
    for (x, y), text, mono in lines:
        face = font(text_size, mono)
        draw.text((x, y), text, font=face, fill="black")
        offset = 0
        for word in text.split(" "):
            start = x + draw.textlength(text[:offset], font=face)
            words.append((word, Box(*draw.textbbox((start, y), word, font=face))))
            offset += len(word) + 1
    return image, words


def all_words(lines: list[OcrLine]) -> list[ocr.OcrWord]:
    return [w for line in lines for w in line.words]


@pytest.mark.parametrize("stem", ["000", "001"])
def test_receipt_total_is_read_inside_its_ground_truth_line(engine, corpus_dir, stem):
    receipts = corpus_dir / "receipts"
    total = json.loads((receipts / "key" / f"{stem}.json").read_text())["total"]
    truth_boxes = []
    for row in (receipts / "box" / f"{stem}.csv").read_text().splitlines():
        parts = row.split(",", 8)
        if len(parts) == 9 and total in parts[8]:
            xy = [float(v) for v in parts[:8]]
            truth_boxes.append(Box.from_points(list(zip(xy[0::2], xy[1::2], strict=True))))
    assert truth_boxes, "the key's total appears in no ground-truth line"

    with Image.open(receipts / "img" / f"{stem}.jpg") as image:
        lines = engine.read(image)
        size = image.size
    hits = [w for w in all_words(lines) if total in w.text]
    assert hits, f"{total!r} not read; words: {[w.text for w in all_words(lines)]}"
    assert all(0 <= w.box.x0 < w.box.x1 <= size[0] and 0 <= w.box.y0 < w.box.y1 <= size[1] for w in hits)
    best = max(covered_fraction(w.box, t.expanded(margin=0.1 * t.height)) for w in hits for t in truth_boxes)
    assert best > 0.5
    assert all(0.0 <= w.score <= 1.0 for w in all_words(lines))


def test_rendered_words_come_back_with_their_text_and_boxes(each_engine):
    lines = [
        ((40, 40), "Invoice number 2024-0117", False),
        ((40, 130), "Total due 1,234.50", False),
        ((420, 220), "Paid by card", False),
        ((40, 310), "QTY 1 17.00", True),  # fixed pitch: the narrow "1" must not split 17.00
    ]
    image, truth = render(lines, (900, 400), 36)
    got = sorted(each_engine.read(image), key=lambda line: line.box.y0)
    assert [line.text for line in got] == [text for _, text, _ in lines]
    words = all_words(got)
    for text, box in truth:
        best = max(words, key=lambda w: w.box.iou(box))
        assert best.text == text and best.box.iou(box) > 0.6, (text, box, best)


def test_downscaled_read_maps_boxes_to_source_pixels(each_engine):
    image, truth = render([((100, 500), "Scaled receipt 42.90", False)], (1200, 800), 72)
    array = np.asarray(image)  # also covers array input (RGB)
    got = each_engine.read(array, max_side=600)
    assert [line.text for line in got] == ["Scaled receipt 42.90"]
    for (text, box), word in zip(truth, got[0].words, strict=True):
        assert word.text == text and word.box.iou(box) > 0.6, (text, box, word)
    assert got[0].box.iou(union_all([box for _, box in truth])) > 0.5


def test_narrow_strips_are_padded_not_blown_up():
    # The detector scales the short side up to 736 px: a 2 x 1000 strip would become 736 x 368,000.
    strip = Image.new("RGB", (2, 1000), "black")
    padded = ocr._pad_to_aspect(strip)
    assert padded.size == (125, 1000) and padded.crop((0, 0, 2, 1000)).tobytes() == strip.tobytes()
    assert ocr._pad_to_aspect(Image.new("RGB", (1000, 2))).size == (1000, 125)
    page = Image.new("RGB", (400, 1000))
    assert ocr._pad_to_aspect(page) is page


def test_blank_image_reads_nothing(engine):
    assert engine.read(Image.new("L", (300, 200), 255)) == []


def truncated_jpeg() -> Image.Image:
    """Opens (the header is whole) but its pixels cannot be decoded."""
    noise = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "JPEG")
    return Image.open(io.BytesIO(buffer.getvalue()[: len(buffer.getvalue()) // 2]))


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(truncated_jpeg, id="truncated-jpeg"),
        pytest.param(lambda: np.zeros((0, 10), np.uint8), id="empty-array"),
        pytest.param(lambda: np.zeros((10, 10), np.float32), id="float-array"),
        pytest.param(lambda: np.zeros((10, 10, 2), np.uint8), id="two-channels"),
        pytest.param(lambda: b"\xff\xd8 not pixels", id="bytes"),
        pytest.param(lambda: None, id="none"),
    ],
)
def test_unreadable_input_is_bad_document(engine, bad):
    with pytest.raises(MediaError) as info:
        engine.read(bad())
    assert info.value.code is ErrorCode.BAD_DOCUMENT


def test_image_over_the_pixel_limit_is_too_large(engine):
    with pytest.raises(MediaError) as info:
        engine.read(Image.new("RGB", (100, 100)), limits=MediaLimits(max_image_pixels=5_000))
    assert info.value.code is ErrorCode.TOO_LARGE


def test_engines_are_cached_and_named(engine):
    assert get_ocr_engine("default") is engine
    assert get_ocr_engine("rapidocr") is engine
    assert engine.name == "rapidocr"
    with pytest.raises(ValueError, match="unknown OCR engine 'nope'; known: rapidocr, tesseract"):
        get_ocr_engine("nope")


def test_concurrent_first_use_builds_one_engine(monkeypatch):
    built = []

    class Slow:
        name = "slow"

        def __init__(self, threads: int | None):
            time.sleep(0.05)
            built.append(self)

    monkeypatch.setattr(ocr, "_ENGINES", {"slow": Slow})
    monkeypatch.setattr(ocr, "_LOADED", {})
    results = []
    threads = [threading.Thread(target=lambda: results.append(get_ocr_engine("slow"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1 and all(r is built[0] for r in results)


def test_missing_engines_name_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # makes the import fail
    with pytest.raises(OcrUnavailableError, match="pip install rapidocr-onnxruntime"):
        RapidOcrEngine()
    monkeypatch.setattr(ocr.shutil, "which", lambda _: None)
    with pytest.raises(OcrUnavailableError, match="apt-get install tesseract-ocr"):
        TesseractEngine()


def test_tesseract_past_the_time_limit_is_a_timeout():
    try:
        tesseract = get_ocr_engine("tesseract")
    except OcrUnavailableError as exc:
        pytest.skip(str(exc))
    image, _ = render([((40, 40), "Slow page", False)], (2000, 2000), 40)
    with pytest.raises(MediaError) as info:
        tesseract.read(image, limits=MediaLimits(max_seconds=0.01))
    assert info.value.code is ErrorCode.TIMEOUT
