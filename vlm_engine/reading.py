"""Read the text of any supported document as boxed lines, each tied to its page or video frame.

Design choices:
- PDFs give their text layer (free and exact); pages without one (scans, image-only pages) are rendered
  and OCR'd, with OCR boxes mapped from render pixels back to displayed-page points through the render's
  `View`. Images are OCR'd in their own pixels; videos are sampled uniformly and each frame OCR'd.
- The output is one flat list of `TextLine`s in reading order, the common input of retrieval (routing
  pages), the text baseline and evidence snapping.
- Progress is reported per page or frame; `cancelled()` is checked between them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sightline_common.sniff import MediaKind, sniff_file
from vlm_engine.backends.base import ImageInput
from vlm_engine.errors import ErrorCode, MediaError
from vlm_engine.grounding import Box, union_all
from vlm_engine.media import image as image_media
from vlm_engine.media import video
from vlm_engine.media.limits import DEFAULT_LIMITS, MediaLimits
from vlm_engine.media.ocr import get_ocr_engine
from vlm_engine.media.pdf import PdfDocument, PdfPage

OCR_DPI = 200.0
VIDEO_FRAMES = 8

Progress = Callable[[int, int], None]


class Cancelled(Exception):
    """The caller's `cancelled()` turned true between two steps."""


@dataclass(frozen=True, slots=True)
class TextLine:
    text: str
    box: Box  # source units
    word_boxes: tuple[Box, ...]
    words: tuple[str, ...]
    page: int | None = None
    time_s: float | None = None
    frame_index: int | None = None
    source_size: tuple[float, float] = (0.0, 0.0)  # width, height of the page or frame it lies on
    score: float | None = None  # OCR's confidence (0-1); None for a text layer's exact words


@dataclass(frozen=True)
class ReadDocument:
    kind: MediaKind
    lines: list[TextLine]
    units_read: int  # pages or frames looked at
    units_total: int


def read_document(
    path: str,
    *,
    password: str | None = None,
    pages: tuple[int, int] | None = None,
    time_window: tuple[float, float] | None = None,
    limits: MediaLimits = DEFAULT_LIMITS,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> ReadDocument:
    media_type = sniff_file(path)
    if media_type is None:
        raise MediaError(ErrorCode.UNSUPPORTED_TYPE, "the file's first bytes match no supported type")

    def step(done: int, total: int) -> None:
        if cancelled is not None and cancelled():
            raise Cancelled(f"cancelled after {done} of {total}")
        if progress is not None:
            progress(done, total)

    if media_type.kind is MediaKind.PDF:
        return _read_pdf(path, password, pages, limits, step)
    if media_type.kind is MediaKind.IMAGE:
        loaded = image_media.load_image(path, limits)
        step(0, 1)
        lines = ocr_lines(ImageInput.whole(np.asarray(loaded.image)), page=None)
        step(1, 1)
        return ReadDocument(media_type.kind, lines, 1, 1)
    return _read_video(path, time_window, limits, step)


def _read_pdf(path, password, pages, limits, step) -> ReadDocument:
    with PdfDocument.open(path, password=password, limits=limits) as doc:
        first, last = pages if pages is not None else (0, doc.page_count - 1)
        if not (0 <= first <= last < doc.page_count):
            raise MediaError(
                ErrorCode.OUT_OF_RANGE, f"pages {first}-{last} are outside 0-{doc.page_count - 1}"
            )
        indices = range(first, last + 1)
        lines: list[TextLine] = []
        for done, index in enumerate(indices):
            step(done, len(indices))
            lines.extend(read_pdf_page(doc.page(index), index))
        step(len(indices), len(indices))
        return ReadDocument(MediaKind.PDF, lines, len(indices), doc.page_count)


def read_pdf_page(page: PdfPage, index: int) -> list[TextLine]:
    """One PDF page's lines: its text layer, or OCR of a render when the page is image-only."""
    size = (page.width, page.height)
    if page.info().image_only:
        rendered = page.render(dpi=OCR_DPI)
        return ocr_lines(ImageInput(rendered.pixels, rendered.view), page=index, size=size)
    lines = []
    for members in page.text_layer.word_lines:
        texts = tuple(w.text for w in members)
        boxes = tuple(w.box for w in members)
        lines.append(TextLine(" ".join(texts), union_all(boxes), boxes, texts, page=index, source_size=size))
    return lines


def _read_video(path, time_window, limits, step) -> ReadDocument:
    info = video.probe(path, limits)
    step(0, VIDEO_FRAMES)
    frames = video.sample_uniform(path, VIDEO_FRAMES, window=time_window, limits=limits)
    lines: list[TextLine] = []
    for done, frame in enumerate(frames):
        step(done, len(frames))
        for line in ocr_lines(ImageInput.whole(frame.image), page=None):
            lines.append(
                TextLine(
                    line.text,
                    line.box,
                    line.word_boxes,
                    line.words,
                    time_s=frame.time_s,
                    frame_index=frame.index,
                    source_size=(info.width, info.height),
                )
            )
    step(len(frames), len(frames))
    return ReadDocument(MediaKind.VIDEO, lines, len(frames), info.frame_count)


def ocr_lines(image: ImageInput, page: int | None, size: tuple[float, float] | None = None) -> list[TextLine]:
    """OCR `image` and map every box to source units through its view."""
    height, width = image.pixels.shape[:2]
    size = size or (float(width), float(height))
    lines = []
    for line in get_ocr_engine().read(image.pixels):
        word_boxes = tuple(image.view.box_to_source(w.box) for w in line.words)
        lines.append(
            TextLine(
                line.text,
                image.view.box_to_source(line.box),
                word_boxes,
                tuple(w.text for w in line.words),
                page=page,
                source_size=size,
                score=line.score,
            )
        )
    return lines
