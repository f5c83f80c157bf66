"""PDF pages as the model sees them: sizes, renders and the text layer, all in displayed-page points.

Design choices:
- PyMuPDF (MuPDF) does the parsing; it repairs many broken files on open, and whatever it still cannot read
  becomes a `MediaError` with a stable code. The type is sniffed from magic bytes first.
- Every coordinate this module returns is in PDF points of the page *as displayed*: after the CropBox and
  /Rotate. A page is interpreted once into a MuPDF display list, which already carries the page's display
  transform, so renders and the text layer extracted from it share the displayed-page frame (a test renders
  rotated, cropped pages and checks each word's box against its ink).
- A render is RGB pixels (a read-only numpy view of MuPDF's own pixmap, no copy) plus the `View` that maps
  them back to page points, so whatever a model marks on it maps back through `View.box_to_source`.
- The text layer is one word extraction per page, stored by column (numpy boxes); lines and blocks are
  grouped from MuPDF's block and line numbers on demand.
- Limits: page count on open, pixels per render (a render asked above the budget is scaled down, logged),
  and a wall-clock deadline per document checked between page operations. A call that hangs inside MuPDF
  is the sandbox's job (`media.sandbox.run_isolated`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pymupdf
from PIL import Image

from sightline_common.sniff import MediaKind, sniff_bytes
from vlm_engine.errors import ErrorCode, MediaError
from vlm_engine.grounding import Box, View, boxes_of, clip_boxes, scale_for_pixel_budget, union_all
from vlm_engine.media.limits import DEFAULT_LIMITS, Deadline, MediaLimits, read_input

log = logging.getLogger(__name__)

POINTS_PER_INCH = 72.0
IMAGE_ONLY_MAX_CHARS = 8  # a page with fewer text-layer characters than this and an image needs OCR
# Rasterising a view again decodes the page's images again: above this many image pixels a reduction of
# pixels already rendered is the cheaper way to a thumbnail (bench/bench_page_ingest.py measures both).
REDRAW_MAX_IMAGE_PIXELS = 512 * 512

# Everything MuPDF raises for bad input; caught only around calls into it, and turned into MediaError.
PARSE_ERRORS = (RuntimeError, ValueError, pymupdf.mupdf.FzErrorBase)

pymupdf.TOOLS.mupdf_display_errors(False)  # MuPDF's own stderr chatter; failures surface as exceptions
pymupdf.TOOLS.mupdf_display_warnings(False)


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    box: Box  # displayed-page points
    block: int
    line: int


@dataclass(frozen=True, slots=True)
class TextSpan:
    """A line or a block of the text layer: its text and the union of its words' boxes."""

    text: str
    box: Box


@dataclass(frozen=True)
class TextLayer:
    """A page's words, stored by column (ingest builds thousands per second); objects on demand."""

    texts: tuple[str, ...]
    boxes: np.ndarray  # (N, 4) float64, displayed-page points
    blocks_of: np.ndarray  # (N,) MuPDF block number of each word
    lines_of: np.ndarray  # (N,) line number within the block

    @property
    def char_count(self) -> int:
        return sum(len(t) for t in self.texts)

    @cached_property
    def words(self) -> tuple[Word, ...]:
        return tuple(
            Word(text, box, block, line)
            for text, box, block, line in zip(
                self.texts, boxes_of(self.boxes), self.blocks_of.tolist(), self.lines_of.tolist(), strict=True
            )
        )

    @cached_property
    def word_lines(self) -> tuple[tuple[Word, ...], ...]:
        """The words grouped by MuPDF line, in reading order."""
        groups: dict[tuple[int, int], list[Word]] = {}
        for w in self.words:
            groups.setdefault((w.block, w.line), []).append(w)
        return tuple(tuple(g) for g in groups.values())

    @cached_property
    def lines(self) -> tuple[TextSpan, ...]:
        """Words joined by spaces, one span per MuPDF line."""
        return tuple(
            TextSpan(" ".join(w.text for w in ws), union_all([w.box for w in ws])) for ws in self.word_lines
        )

    @cached_property
    def blocks(self) -> tuple[TextSpan, ...]:
        """Lines joined by newlines, one span per MuPDF block."""
        groups: dict[int, list[int]] = {}
        for i, ws in enumerate(self.word_lines):
            groups.setdefault(ws[0].block, []).append(i)
        return tuple(
            TextSpan(
                "\n".join(self.lines[i].text for i in members),
                union_all([self.lines[i].box for i in members]),
            )
            for members in groups.values()
        )

    @property
    def text(self) -> str:
        return "\n\n".join(b.text for b in self.blocks)


@dataclass(frozen=True, slots=True)
class PageInfo:
    index: int
    width: float  # displayed points
    height: float
    rotation: int  # /Rotate, degrees clockwise
    word_count: int
    image_count: int
    image_only: bool  # no usable text layer but images: needs OCR


@dataclass(frozen=True, slots=True)
class RenderedPage:
    index: int
    pixels: np.ndarray  # (height, width, 3) uint8 RGB
    view: View  # pixels -> displayed-page points

    @property
    def image(self) -> Image.Image:
        return Image.fromarray(self.pixels)

    @property
    def dpi(self) -> float:
        return POINTS_PER_INCH / self.view.pixel_scale()


class PdfPage:
    """One page, interpreted once: renders, views and the text layer all replay one MuPDF display list."""

    def __init__(self, page: pymupdf.Page, limits: MediaLimits):
        self._page = page
        self.limits = limits
        self.index: int = page.number
        rect = page.rect
        self.width: float = rect.width  # displayed points
        self.height: float = rect.height
        self.rotation: int = page.rotation
        if self.width <= 0 or self.height <= 0:
            raise MediaError(ErrorCode.BAD_DOCUMENT, f"page {self.index} has an empty size")

    @cached_property
    def _display(self) -> pymupdf.DisplayList:
        try:
            return self._page.get_displaylist()
        except PARSE_ERRORS as exc:
            raise MediaError(ErrorCode.BAD_DOCUMENT, f"cannot interpret page {self.index}: {exc}") from None

    def render(self, dpi: float = 144.0, size: tuple[int, int] | None = None) -> RenderedPage:
        """The whole page at `dpi`, scaled down to the pixel budget if needed, or at exactly `size` pixels
        (the aspect may then change a little, as a tile canvas wants)."""
        view = self.view_at(dpi) if size is None else View.of_source(self.width, self.height, *size)
        return RenderedPage(self.index, self.render_view(view), view)

    def view_at(self, dpi: float) -> View:
        """The view of the whole page that `render(dpi)` draws (scaled down to the pixel budget)."""
        scale = scale_for_pixel_budget(
            self.width, self.height, dpi / POINTS_PER_INCH, self.limits.max_render_pixels
        )
        if scale < dpi / POINTS_PER_INCH:
            log.info("page %d rendered at %.0f dpi, not %.0f (pixel budget)", self.index, scale * 72, dpi)
        size = (max(1, round(self.width * scale)), max(1, round(self.height * scale)))
        return View.of_source(self.width, self.height, *size)

    def render_view(self, view: View) -> np.ndarray:
        """The pixels of a view of this page (a tile, a thumbnail, a zoom crop), rasterised from the
        vector content at exactly the view's size: no resampling, text stays sharp at any zoom."""
        if view.width * view.height > self.limits.max_render_pixels:
            raise MediaError(
                ErrorCode.TOO_LARGE,
                f"a {view.width}x{view.height} render is over {self.limits.max_render_pixels} pixels",
            )
        to_view = view.to_source.inverse()
        # our Affine (x' = a x + b y + c, y' = d x + e y + f) in MuPDF's Matrix(a, b, c, d, e, f) order
        matrix = pymupdf.Matrix(to_view.a, to_view.d, to_view.b, to_view.e, to_view.c, to_view.f)
        try:
            pix = self._display.get_pixmap(
                matrix=matrix, alpha=False, clip=tuple(view.source_region.as_list(None))
            )
        except PARSE_ERRORS as exc:
            raise MediaError(ErrorCode.BAD_DOCUMENT, f"cannot render page {self.index}: {exc}") from None
        if pix.n != 3:  # grey or CMYK output: convert once here
            pix = pymupdf.Pixmap(pymupdf.csRGB, pix)
        pixels = np.asarray(_PixmapSamples(pix))
        if pixels.shape[:2] == (view.height, view.width) and (pix.x, pix.y) == (0, 0):
            return pixels
        # MuPDF rounds the clip outward to whole pixels: place what it drew on a canvas of the exact size
        canvas = np.full((view.height, view.width, 3), 255, np.uint8)
        x, y = max(0, -pix.x), max(0, -pix.y)
        h = min(view.height - max(0, pix.y), pix.height - y)
        w = min(view.width - max(0, pix.x), pix.width - x)
        if h > 0 and w > 0:
            canvas[max(0, pix.y) : max(0, pix.y) + h, max(0, pix.x) : max(0, pix.x) + w] = pixels[
                y : y + h, x : x + w
            ]
        return canvas

    @cached_property
    def redraws_cheaply(self) -> bool:
        """Whether rasterising a view again costs less than reducing pixels already rendered: true unless
        the page's raster images hold more than `REDRAW_MAX_IMAGE_PIXELS` (redrawing decodes them again).
        Read from the page's resources, not its content: an image listed but not drawn still counts."""
        try:
            images = self._page.get_images()
        except PARSE_ERRORS:
            return False
        return sum(image[2] * image[3] for image in images) <= REDRAW_MAX_IMAGE_PIXELS

    @cached_property
    def text_layer(self) -> TextLayer:
        """Words (with their lines and blocks) in displayed-page points, in MuPDF's reading order."""
        try:
            raw = pymupdf.TextPage(self._display.get_textpage(pymupdf.TEXTFLAGS_WORDS)).extractWORDS()
        except PARSE_ERRORS as exc:
            raise MediaError(
                ErrorCode.BAD_DOCUMENT, f"cannot read the text of page {self.index}: {exc}"
            ) from None
        if not raw:
            empty = np.zeros((0,), np.int32)
            return TextLayer((), np.zeros((0, 4)), empty, empty)
        x0, y0, x1, y1, texts, blocks, lines, _ = zip(*raw, strict=True)
        boxes = clip_boxes(np.array([x0, y0, x1, y1], dtype=np.float64).T, self.width, self.height)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])  # words off the page vanish
        if keep.all():
            return TextLayer(texts, boxes, np.array(blocks, np.int32), np.array(lines, np.int32))
        kept = np.flatnonzero(keep).tolist()
        return TextLayer(
            tuple(texts[i] for i in kept),
            boxes[keep],
            np.array(blocks, np.int32)[keep],
            np.array(lines, np.int32)[keep],
        )

    def info(self) -> PageInfo:
        try:
            image_count = len(self._page.get_image_info())
        except PARSE_ERRORS:
            image_count = 0
        layer = self.text_layer
        return PageInfo(
            index=self.index,
            width=self.width,
            height=self.height,
            rotation=self.rotation,
            word_count=len(layer.texts),
            image_count=image_count,
            image_only=layer.char_count < IMAGE_ONLY_MAX_CHARS and image_count > 0,
        )


class _PixmapSamples:
    """A pixmap's samples as numpy sees them, without copying: the array keeps this object, and so the
    pixmap and MuPDF's memory under it, alive as long as any slice of it. Read-only, like the page."""

    def __init__(self, pix: pymupdf.Pixmap):
        self._pixmap = pix
        self.__array_interface__ = {
            "version": 3,
            "shape": (pix.height, pix.width, pix.n),
            "typestr": "|u1",
            "strides": (pix.stride, pix.n, 1),
            "data": (pix.samples_ptr, True),
        }


class PdfDocument:
    """An opened PDF. Use as a context manager, or call `close()`."""

    def __init__(self, doc: pymupdf.Document, limits: MediaLimits, deadline: Deadline):
        self._doc = doc
        self.limits = limits
        self._deadline = deadline

    @classmethod
    def open(
        cls, source: str | Path | bytes, password: str | None = None, limits: MediaLimits = DEFAULT_LIMITS
    ) -> PdfDocument:
        data = read_input(source, limits)
        media_type = sniff_bytes(data[:4096])
        if media_type is None or media_type.kind is not MediaKind.PDF:
            found = media_type.mime if media_type else "unknown bytes"
            raise MediaError(ErrorCode.UNSUPPORTED_TYPE, f"not a PDF ({found})")
        deadline = Deadline(limits.max_seconds, "reading the PDF")
        try:
            doc = pymupdf.open(stream=data, filetype="pdf")
        except PARSE_ERRORS as exc:
            raise MediaError(ErrorCode.BAD_DOCUMENT, f"cannot parse the PDF: {exc}") from None
        try:
            _unlock(doc, password)
            pages = _page_count(doc)
            deadline.check()
            if pages > limits.max_pages:
                raise MediaError(
                    ErrorCode.TOO_LARGE, f"{pages} pages is over the limit of {limits.max_pages}"
                )
            if pages == 0:
                raise MediaError(ErrorCode.BAD_DOCUMENT, "the PDF has no readable pages")
        except BaseException:
            doc.close()
            raise
        return cls(doc, limits, deadline)

    def __enter__(self) -> PdfDocument:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._doc.close()

    @property
    def page_count(self) -> int:  # checked readable on open
        return self._doc.page_count

    @property
    def is_repaired(self) -> bool:
        """True when MuPDF had to rebuild a broken cross-reference table to open the file."""
        return bool(self._doc.is_repaired)

    def page(self, index: int) -> PdfPage:
        """Page `index` (0-based). Each call loads the page anew; keep the object to reuse its work."""
        if not 0 <= index < self.page_count:
            raise MediaError(ErrorCode.OUT_OF_RANGE, f"page {index} is outside 0..{self.page_count - 1}")
        self._deadline.check()
        try:
            return PdfPage(self._doc.load_page(index), self.limits)
        except PARSE_ERRORS as exc:
            raise MediaError(ErrorCode.BAD_DOCUMENT, f"cannot load page {index}: {exc}") from None

    def pages(self) -> Iterator[PageInfo]:
        for index in range(self.page_count):
            yield self.page(index).info()


def _unlock(doc: pymupdf.Document, password: str | None) -> None:
    if not doc.needs_pass:
        return
    if password is None:
        raise MediaError(ErrorCode.ENCRYPTED, "the PDF is encrypted; a password is required")
    if not doc.authenticate(password):
        raise MediaError(ErrorCode.ENCRYPTED, "the password does not open this PDF")


def _page_count(doc: pymupdf.Document) -> int:
    try:
        return doc.page_count
    except PARSE_ERRORS as exc:
        raise MediaError(ErrorCode.BAD_DOCUMENT, f"cannot count pages: {exc}") from None
