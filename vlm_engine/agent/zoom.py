"""Zoom: when evidence is small or uncertain, crop around it and read or ask again at higher resolution.

Design choices:
- A source that can draw any `View` of itself is a `Draw`: a PDF page rasterises the view from its
  vectors and embedded images at exactly the view's size (`PdfPage.render_view`), an image is resampled
  from its own pixels (`image_draw`). The zoom crop is `grounding.zoom_view` (the evidence box grown by
  some context, clipped to the source, drawn so the box spans a target height in pixels); whatever is
  read on it comes back in source units through that view. This module does no coordinate arithmetic.
- Text: a line the look read is re-read when it spans fewer than `min_pixels` pixels of the view it was
  read in (unless OCR was sure of it, `sure_score`), or OCR's confidence was under `min_score`. The
  zoomed reading replaces the line only by the lines found on the original line's place (a crop also
  shows its neighbours, which were read already). Marks the look saw but read as nothing (a band of ink
  shaped like a line of small text that no line covers) are zoomed on too: text too small to be found
  at all. At most `max_zooms` crops of each kind a page: each costs one OCR call.
- A VLM's box: `ask_closer` asks the same question on a crop around it; the backend's boxes on the crop
  map back to the source in one step.
- Every zoom pass is one trace step (how many lines were small, uncertain, re-read, changed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vlm_engine.agent.trace import Trace
from vlm_engine.backends.base import Backend, Generation, GenerationConfig, ImageInput, Prompt
from vlm_engine.grounding import Box, View, covered_fraction, pixel_height, zoom_view
from vlm_engine.reading import TextLine, ocr_lines
from vlm_engine.vision.tiling import cut_views

Draw = Callable[[View], np.ndarray]


@dataclass(frozen=True)
class ZoomPolicy:
    min_pixels: float = 16.0  # a text line shorter than this in the view it was read in is re-read ...
    sure_score: float = 0.97  # ... unless OCR read it with at least this confidence
    min_score: float = 0.85  # a line read with lower confidence is re-read whatever its size
    text_pixels: float = 32.0  # the zoom draws the line this tall
    context: float = 0.25  # the crop: the box grown by this share of its size ...
    margin_lines: float = 3.0  # ... plus this many line heights on every side (a squarer crop: OCR's detector
    # scales the short side to 736 px, so a long thin crop costs more than a taller one)
    max_zooms: int = 64  # re-reads per page at most
    max_side: int = 4096


DEFAULT_ZOOM = ZoomPolicy()
INK_LEVEL = 200  # grey level under which a look's pixel is ink (faint small print included)
INK_ASPECT = 3.0  # unread ink this many times wider than tall is taken for a line of text
CLOSER = GenerationConfig(max_new_tokens=64)


def image_draw(pixels: np.ndarray) -> Draw:
    """The `Draw` of an image that is its own source: any view resampled from its pixels."""
    whole = View(pixels.shape[1], pixels.shape[0])
    return lambda view: cut_views(pixels, whole, [view])[0]


def read_text(
    draw: Draw,
    source_size: tuple[float, float],
    look: View,
    page: int | None,
    trace: Trace,
    policy: ZoomPolicy | None = DEFAULT_ZOOM,
) -> list[TextLine]:
    """OCR of the `look` view of a source, then (unless `policy` is None) a zoomed re-read of its small or
    uncertain lines. Lines are in source units."""
    with trace.step("read_text", page=page, view=[look.width, look.height]) as step:
        pixels = draw(look)
        lines = ocr_lines(ImageInput(pixels, look), page=page, size=source_size)
        step.outputs["lines"] = len(lines)
    if policy is None:
        return lines
    return sharpen(lines, draw, source_size, look, page, trace, policy, pixels=pixels)


def unread_ink(pixels: np.ndarray, seen: View, lines: list[TextLine], policy: ZoomPolicy) -> list[Box]:
    """Source boxes of marks in the look that no line covers and that are shaped like a line of small
    text (a band of dark ink at least `INK_ASPECT` times wider than tall, under `min_pixels` tall): what the
    look saw but could not read."""
    ink = np.asarray(pixels).mean(axis=2) < INK_LEVEL
    for line in lines:
        x0, y0, x1, y1 = (round(v) for v in seen.box_from_source(line.box).expanded(0.05, 1).as_list(None))
        ink[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = False
    regions = []
    for top, bottom in _runs(ink.any(axis=1), gap=1):
        height = bottom - top
        if height > policy.min_pixels:
            continue
        for left, right in _runs(ink[top:bottom].any(axis=0), gap=max(2, 2 * height)):
            if right - left >= INK_ASPECT * height:
                regions.append(seen.box_to_source(Box(left, top, right, bottom)))
    return regions


def _runs(flags: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """[start, end) runs of True in `flags`, bridging gaps of up to `gap` False values."""
    hits = np.flatnonzero(flags)
    if hits.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(hits) > gap + 1)
    starts = np.concatenate(([hits[0]], hits[breaks + 1]))
    ends = np.concatenate((hits[breaks], [hits[-1]])) + 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def needs_zoom(line: TextLine, seen: View, policy: ZoomPolicy) -> tuple[bool, bool]:
    """(small, uncertain) for a line read in the view `seen`."""
    sure = line.score is None or line.score >= policy.sure_score
    small = pixel_height(seen, line.box) < policy.min_pixels and not sure
    uncertain = line.score is not None and line.score < policy.min_score
    return small, uncertain


def sharpen(
    lines: list[TextLine],
    draw: Draw,
    source_size: tuple[float, float],
    seen: View,
    page: int | None,
    trace: Trace,
    policy: ZoomPolicy = DEFAULT_ZOOM,
    pixels: np.ndarray | None = None,
) -> list[TextLine]:
    """`lines` (read in the view `seen`) with each small or uncertain one replaced by its reading on a
    zoomed crop; given the `pixels` of `seen`, plus what zoomed crops read on the ink no line covers."""
    with trace.step("zoom_text", page=page, lines=len(lines)) as step:
        out: list[TextLine] = []
        small_count = uncertain_count = zoomed = changed = 0
        for line in lines:
            small, uncertain = needs_zoom(line, seen, policy)
            small_count += small
            uncertain_count += uncertain
            if not (small or uncertain) or zoomed >= policy.max_zooms or line.box.height <= 0:
                out.append(line)
                continue
            zoomed += 1
            found = _reread(line.box, draw, source_size, page, policy)
            if found:
                changed += " ".join(r.text for r in found) != line.text
                out.extend(found)
            else:
                out.append(line)
        step.outputs.update(small=small_count, uncertain=uncertain_count, zoomed=zoomed, changed=changed)
    if pixels is None:
        return out
    with trace.step("zoom_unread", page=page) as step:
        regions = unread_ink(pixels, seen, out, policy)[: policy.max_zooms]
        found = [line for region in regions for line in _reread(region, draw, source_size, page, policy)]
        step.outputs.update(zoomed=len(regions), lines=len(found))
    return out + found


def _reread(
    box: Box, draw: Draw, source_size: tuple[float, float], page: int | None, policy: ZoomPolicy
) -> list[TextLine]:
    """The lines OCR reads on a zoomed crop around `box` that lie on `box`'s place (source units)."""
    view = zoom_view(
        box,
        *source_size,
        box_pixels=policy.text_pixels,
        context=policy.context,
        margin=policy.margin_lines * box.height,
        max_side=policy.max_side,
    )
    reread = ocr_lines(ImageInput(draw(view), view), page=page, size=source_size)
    place = box.expanded(0.15, 0.25 * box.height)
    return [r for r in reread if covered_fraction(r.box, place) >= 0.6]


def ask_closer(
    backend: Backend,
    question: str,
    box: Box,
    draw: Draw,
    source_size: tuple[float, float],
    *,
    context: float = 1.0,
    box_pixels: float = 128.0,
    system: str | None = None,
) -> tuple[Generation, View]:
    """Ask `question` again on a crop around `box` (source units); the generation's boxes are in source
    units, and the crop's view comes back with it."""
    view = zoom_view(box, *source_size, box_pixels=box_pixels, context=context, min_side=16)
    [generation] = backend.generate(
        [Prompt(question, images=(ImageInput(draw(view), view),), system=system)], CLOSER
    )
    return generation, view
