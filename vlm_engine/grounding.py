"""The one coordinate convention, and every box dialect mapped onto it.

Design choices:
- A `Box` is `[x0, y0, x1, y1]`, origin top-left, x right, y down, x0 <= x1, y0 <= y1, in float units of
  whatever it lives in (PDF points of the displayed page, image pixels, decoded-frame pixels, view pixels).
- A `View` is an image a model sees (a tile, a crop, a thumbnail, a resized or rotated page) together with an
  `Affine` that maps its pixels to the source. Views compose: a zoom crop of a tile of a rendered page is a
  view of that view, and mapping back is one matrix product. Every coordinate transform in the engine lives
  in this module; other modules ask it (`View.box_to_source`, `split_grid`, `Affine.from_parallelogram`).
  `Affine.page_rotation` maps a PDF page's unrotated space onto its display (for writing evidence back
  into the file); MuPDF display lists already report displayed points, so reading needs no rotation.
- Box dialects (0-1000 ints, absolute pixels, `<loc>` tokens with y first, patch indices) are parsed into
  `GroundedBox`es in *view pixels*, and formatted from them, by one function pair per dialect.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np


@dataclass(frozen=True, slots=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (self.x0, self.y0, self.x1, self.y1)):
            raise ValueError(f"box coordinates must be finite: {self}")
        if self.x1 < self.x0 or self.y1 < self.y0:
            raise ValueError(f"box must have x0<=x1 and y0<=y1: {self}")

    @classmethod
    def from_corners(cls, xa: float, ya: float, xb: float, yb: float) -> Box:
        """A box from two opposite corners in any order."""
        return cls(min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb))

    @classmethod
    def from_points(cls, points: Sequence[tuple[float, float]]) -> Box:
        """The axis-aligned box around a polygon (e.g. OCR quadrilaterals)."""
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        return cls(min(xs), min(ys), max(xs), max(ys))

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2)

    def as_list(self, ndigits: int | None = 2) -> list[float]:
        values = [float(self.x0), float(self.y0), float(self.x1), float(self.y1)]
        return values if ndigits is None else [round(v, ndigits) for v in values]

    def clip(self, width: float, height: float) -> Box:
        """Clip to the rectangle [0, width] x [0, height]; a box fully outside collapses onto the edge."""
        x0 = min(max(self.x0, 0.0), width)
        y0 = min(max(self.y0, 0.0), height)
        x1 = min(max(self.x1, 0.0), width)
        y1 = min(max(self.y1, 0.0), height)
        return Box(x0, y0, x1, y1)

    def normalized(self, width: float, height: float) -> Box:
        """This box divided by the container size: [0, 1] when the box lies inside it."""
        return Box(self.x0 / width, self.y0 / height, self.x1 / width, self.y1 / height)

    def denormalized(self, width: float, height: float) -> Box:
        return Box(self.x0 * width, self.y0 * height, self.x1 * width, self.y1 * height)

    def intersection(self, other: Box) -> Box | None:
        x0, y0 = max(self.x0, other.x0), max(self.y0, other.y0)
        x1, y1 = min(self.x1, other.x1), min(self.y1, other.y1)
        if x1 <= x0 or y1 <= y0:
            return None
        return Box(x0, y0, x1, y1)

    def union(self, other: Box) -> Box:
        return Box(
            min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1)
        )

    def iou(self, other: Box) -> float:
        inter = self.intersection(other)
        if inter is None:
            return 0.0
        union_area = self.area + other.area - inter.area
        return inter.area / union_area if union_area > 0 else 0.0

    def expanded(self, ratio: float = 0.0, margin: float = 0.0) -> Box:
        """Grow by `ratio` of its own size plus a fixed `margin` on every side (zoom crops)."""
        dx = self.width * ratio + margin
        dy = self.height * ratio + margin
        return Box(self.x0 - dx, self.y0 - dy, self.x1 + dx, self.y1 + dy)


def clip_boxes(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    """`Box.clip` over an (N, 4) array."""
    limits = np.array([width, height, width, height], dtype=np.float64)
    return np.clip(np.asarray(boxes, dtype=np.float64).reshape(-1, 4), 0.0, limits)


def boxes_of(array: np.ndarray) -> list[Box]:
    """Box objects for the rows of an (N, 4) array."""
    return [Box(*row) for row in np.asarray(array, dtype=np.float64).reshape(-1, 4).tolist()]


def union_all(boxes: Sequence[Box]) -> Box:
    if not boxes:
        raise ValueError("union of no boxes")
    return Box(
        min(b.x0 for b in boxes), min(b.y0 for b in boxes), max(b.x1 for b in boxes), max(b.y1 for b in boxes)
    )


@dataclass(frozen=True, slots=True)
class Affine:
    """The map (x, y) -> (a*x + b*y + c, d*x + e*y + f)."""

    a: float = 1.0
    b: float = 0.0
    c: float = 0.0
    d: float = 0.0
    e: float = 1.0
    f: float = 0.0

    @classmethod
    def scale(cls, sx: float, sy: float | None = None) -> Affine:
        return cls(a=sx, e=sx if sy is None else sy)

    @classmethod
    def translate(cls, tx: float, ty: float) -> Affine:
        return cls(c=tx, f=ty)

    @classmethod
    def page_rotation(cls, rotation: int, width: float, height: float) -> Affine:
        """Map an unrotated page of size (width, height) onto its display rotated clockwise by `rotation`.

        This is what a PDF viewer does with /Rotate: 90 turns the page a quarter clockwise, so the displayed
        page is (height x width) and the unrotated top-left corner lands at the displayed top-right.
        """
        rotation %= 360
        if rotation == 0:
            return cls()
        if rotation == 90:
            return cls(a=0, b=-1, c=height, d=1, e=0, f=0)
        if rotation == 180:
            return cls(a=-1, b=0, c=width, d=0, e=-1, f=height)
        if rotation == 270:
            return cls(a=0, b=1, c=0, d=-1, e=0, f=width)
        raise ValueError(f"rotation must be a multiple of 90, got {rotation}")

    @classmethod
    def from_parallelogram(
        cls, origin: tuple[float, float], x_end: tuple[float, float], y_end: tuple[float, float]
    ) -> Affine:
        """The map from the unit square onto a parallelogram: (0,0) -> origin, (1,0) -> x_end, (0,1) -> y_end.

        A rotated OCR line quadrilateral becomes a frame with u along its reading direction, v across.
        """
        (x0, y0), (x1, y1), (x3, y3) = origin, x_end, y_end
        return cls(a=x1 - x0, b=x3 - x0, c=x0, d=y1 - y0, e=y3 - y0, f=y0)

    def then(self, other: Affine) -> Affine:
        """The map that applies `self` first and `other` second."""
        return Affine(
            a=other.a * self.a + other.b * self.d,
            b=other.a * self.b + other.b * self.e,
            c=other.a * self.c + other.b * self.f + other.c,
            d=other.d * self.a + other.e * self.d,
            e=other.d * self.b + other.e * self.e,
            f=other.d * self.c + other.e * self.f + other.f,
        )

    def inverse(self) -> Affine:
        det = self.a * self.e - self.b * self.d
        if det == 0:
            raise ValueError("affine map is not invertible")
        a, b, d, e = self.e / det, -self.b / det, -self.d / det, self.a / det
        return Affine(a=a, b=b, c=-(a * self.c + b * self.f), d=d, e=e, f=-(d * self.c + e * self.f))

    def apply_point(self, x: float, y: float) -> tuple[float, float]:
        return (self.a * x + self.b * y + self.c, self.d * x + self.e * y + self.f)

    def apply_box(self, box: Box) -> Box:
        """The axis-aligned box around the mapped corners (exact for scales, shifts and quarter turns)."""
        corners = [self.apply_point(x, y) for x in (box.x0, box.x1) for y in (box.y0, box.y1)]
        return Box.from_points(corners)

    def apply_boxes(self, boxes: np.ndarray) -> np.ndarray:
        """`apply_box` over an (N, 4) array of [x0, y0, x1, y1] rows, vectorised (text layers, OCR)."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        xs = np.stack([boxes[:, 0], boxes[:, 0], boxes[:, 2], boxes[:, 2]], axis=1)
        ys = np.stack([boxes[:, 1], boxes[:, 3], boxes[:, 1], boxes[:, 3]], axis=1)
        mx = self.a * xs + self.b * ys + self.c
        my = self.d * xs + self.e * ys + self.f
        return np.stack([mx.min(axis=1), my.min(axis=1), mx.max(axis=1), my.max(axis=1)], axis=1)


@dataclass(frozen=True, slots=True)
class View:
    """An image of `width` x `height` pixels that a model sees, and the map from its pixels to the source."""

    width: int
    height: int
    to_source: Affine = Affine()

    @classmethod
    def of_region(cls, region: Box, width: int, height: int) -> View:
        """A view showing `region` of the source (source units) resized to `width` x `height` pixels."""
        if width <= 0 or height <= 0 or region.width <= 0 or region.height <= 0:
            raise ValueError(f"empty view: region={region} size={width}x{height}")
        to_source = Affine.scale(region.width / width, region.height / height).then(
            Affine.translate(region.x0, region.y0)
        )
        return cls(width, height, to_source)

    @classmethod
    def of_source(cls, source_width: float, source_height: float, width: int, height: int) -> View:
        """The whole source resized to `width` x `height` (a render at some DPI, a thumbnail)."""
        return cls.of_region(Box(0, 0, source_width, source_height), width, height)

    def sub_view(self, region: Box, width: int | None = None, height: int | None = None) -> View:
        """A crop of this view (region in this view's pixels), optionally resized: tiles and zooms."""
        width = round(region.width) if width is None else width
        height = round(region.height) if height is None else height
        inner = View.of_region(region, width, height)
        return View(width, height, inner.to_source.then(self.to_source))

    @property
    def source_region(self) -> Box:
        """The rectangle of the source this view shows, in source units."""
        return self.to_source.apply_box(Box(0, 0, self.width, self.height))

    def box_to_source(self, box: Box) -> Box:
        """Map a box in view pixels to source units, clipped to the view first."""
        return self.to_source.apply_box(box.clip(self.width, self.height))

    def box_from_source(self, box: Box) -> Box:
        """Map a box in source units into this view's pixels (not clipped: it may fall outside)."""
        return self.to_source.inverse().apply_box(box)

    def pixel_scale(self) -> float:
        """Source units per view pixel along x (the zoom level)."""
        return math.hypot(self.to_source.a, self.to_source.d)


def zoom_view(
    box: Box,
    source_width: float,
    source_height: float,
    *,
    box_pixels: float,
    context: float = 0.5,
    margin: float = 0.0,
    max_side: int = 1024,
    min_side: int = 1,
) -> View:
    """A view of the source around `box` (source units): the box grown by `context` of its size plus
    `margin` on every side, clipped to the source, drawn so the box's height spans `box_pixels` pixels
    (capped so no side exceeds `max_side`, raised so none is under `min_side`). Zoom crops for re-reading
    small text and for verifying a claim on its own evidence."""
    region = box.expanded(context, margin).clip(source_width, source_height)
    if region.width <= 0 or region.height <= 0:
        raise ValueError(f"nothing to zoom on: {box} in a {source_width}x{source_height} source")
    pixels_per_unit = box_pixels / max(box.height, 1e-6)
    width, height = region.width * pixels_per_unit, region.height * pixels_per_unit
    if max(width, height) > max_side:
        width, height = fit_within(region.width, region.height, max_side, max_side)
    elif min(width, height) < min_side:
        grow = min_side / min(width, height)
        width, height = width * grow, height * grow
    return View.of_region(region, max(1, round(width)), max(1, round(height)))


def pixel_height(view: View, box: Box) -> float:
    """How many pixels of `view` the height of `box` (source units) spans: how legible it is there."""
    return view.box_from_source(box).height


def split_grid(region: Box, cols: int, rows: int) -> list[Box]:
    """Cut `region` into cols x rows equal cells, row-major (left to right, then top to bottom)."""
    if cols < 1 or rows < 1:
        raise ValueError("grid needs at least one column and one row")
    cell_w, cell_h = region.width / cols, region.height / rows
    return [
        Box(
            region.x0 + c * cell_w,
            region.y0 + r * cell_h,
            region.x0 + (c + 1) * cell_w if c < cols - 1 else region.x1,
            region.y0 + (r + 1) * cell_h if r < rows - 1 else region.y1,
        )
        for r in range(rows)
        for c in range(cols)
    ]


def fit_within(width: float, height: float, max_width: float, max_height: float) -> tuple[int, int]:
    """The largest integer size with the aspect ratio of (width, height) inside (max_width, max_height)."""
    scale = min(max_width / width, max_height / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def scale_for_pixel_budget(width: float, height: float, scale: float, max_pixels: int) -> float:
    """`scale` reduced, if needed, so that the scaled size holds at most `max_pixels` pixels."""
    pixels = width * scale * height * scale
    if pixels <= max_pixels:
        return scale
    return scale * math.sqrt(max_pixels / pixels) * 0.999


# --------------------------------------------------------------------------------------------------------
# Set operations on boxes: NMS and snapping to words.


def nms(boxes: Sequence[Box], scores: Sequence[float], iou_threshold: float = 0.5) -> list[int]:
    """Greedy non-maximum suppression; returns the kept indices, best score first."""
    if len(boxes) != len(scores):
        raise ValueError("boxes and scores differ in length")
    order = sorted(range(len(boxes)), key=lambda i: scores[i], reverse=True)
    kept: list[int] = []
    for i in order:
        if all(boxes[i].iou(boxes[k]) <= iou_threshold for k in kept):
            kept.append(i)
    return kept


def covered_fraction(inner: Box, outer: Box) -> float:
    """The fraction of `inner`'s area that lies inside `outer` (1.0 for a zero-area inner inside outer)."""
    if inner.area == 0:
        cx, cy = inner.center
        return 1.0 if outer.x0 <= cx <= outer.x1 and outer.y0 <= cy <= outer.y1 else 0.0
    inter = inner.intersection(outer)
    return 0.0 if inter is None else inter.area / inner.area


RELATIONS = {  # a spatial relation -> (axis of the centres compared, sign: a's coordinate is smaller when true)
    "to the left of": (0, 1),
    "to the right of": (0, -1),
    "above": (1, 1),
    "below": (1, -1),
}


def relation_gap(a: Box, b: Box, relation: str) -> float:
    """How far `a` is `relation` `b` (a key of `RELATIONS`), centre to centre along that axis, in the
    boxes' units: positive when the relation holds. The one rule the training data is labelled by and the
    agent answers by."""
    axis, sign = RELATIONS[relation]
    return (b.center[axis] - a.center[axis]) * sign


def snap_to_words(
    box: Box, word_boxes: Sequence[Box], min_covered: float = 0.5
) -> tuple[Box, list[int]] | None:
    """Snap a model's box to the words under it: the union of every word at least `min_covered` inside.

    Returns the snapped box and the indices of the words, or None when no word qualifies.
    """
    hits = [i for i, w in enumerate(word_boxes) if covered_fraction(w, box) >= min_covered]
    if not hits:
        return None
    return union_all([word_boxes[i] for i in hits]), hits


# --------------------------------------------------------------------------------------------------------
# Box dialects. Each parser returns GroundedBoxes in the pixels of the view the model saw.


class BoxDialect(StrEnum):
    GENERIC = "generic"  # <box>x0,y0,x1,y1</box>, 0-1000
    QWEN_VL = "qwen_vl"  # <ref>label</ref><box>(x0,y0),(x1,y1)</box>, 0-1000
    QWEN2_VL = (
        "qwen2_vl"  # <|object_ref_start|>label<|object_ref_end|><|box_start|>(x0,y0),(x1,y1)<|box_end|>
    )
    QWEN2_5_VL = "qwen2_5_vl"  # JSON [{"bbox_2d": [x0,y0,x1,y1], "label": ..}], absolute input pixels
    QWEN3_VL = "qwen3_vl"  # JSON as Qwen2.5-VL, 0-1000
    INTERNVL = "internvl"  # <ref>label</ref><box>[[x0,y0,x1,y1]]</box>, 0-1000
    PALIGEMMA = "paligemma"  # <locY0><locX0><locY1><locX1> label, 1024 bins, y first
    FLORENCE2 = "florence2"  # label<loc_x0><loc_y0><loc_x1><loc_y1>, 1000 bins
    KOSMOS2 = "kosmos2"  # <phrase>label</phrase><object><patch_index_A><patch_index_B></object>, 32x32
    SIGHTLINE = (
        "sightline"  # <ref>label</ref><box><loc_X0><loc_Y0><loc_X1><loc_Y1></box>, 1000 bins (own model)
    )


@dataclass(frozen=True, slots=True)
class GroundedBox:
    box: Box  # in view pixels
    label: str = ""


NUMBER = r"\s*(-?\d+(?:\.\d+)?)\s*"
_GENERIC = re.compile(r"<box>" + ",".join([NUMBER] * 4) + r"</box>")
_POINT_PAIR = r"\(" + NUMBER + "," + NUMBER + r"\)\s*,\s*\(" + NUMBER + "," + NUMBER + r"\)"
_QWEN_VL = re.compile(r"(?:<ref>(.*?)</ref>)?\s*<box>" + _POINT_PAIR + r"</box>")
_QWEN2_VL = re.compile(
    r"(?:<\|object_ref_start\|>(.*?)<\|object_ref_end\|>)?\s*<\|box_start\|>" + _POINT_PAIR + r"<\|box_end\|>"
)
_INTERNVL_REF_BOX = re.compile(
    r"(?:<ref>(.*?)</ref>)?\s*<box>\s*\[(\s*\[[^\]]*\]\s*(?:,\s*\[[^\]]*\]\s*)*)\]\s*</box>"
)
_INTERNVL_ONE = re.compile(r"\[" + ",".join([NUMBER] * 4) + r"\]")
_PALIGEMMA = re.compile(r"<loc(\d{4})><loc(\d{4})><loc(\d{4})><loc(\d{4})>\s*([^<;]*)")
_FLORENCE2 = re.compile(r"([^<>]*?)((?:<loc_\d+>){4,})")
_FLORENCE2_LOC = re.compile(r"<loc_(\d+)>")
_SIGHTLINE = re.compile(
    r"(?:<ref>(.*?)</ref>)?\s*<box>\s*<loc_(\d+)>\s*<loc_(\d+)>\s*<loc_(\d+)>\s*<loc_(\d+)>\s*</box>"
)
_KOSMOS2 = re.compile(r"(?:<phrase>(.*?)</phrase>)?\s*<object>(.*?)</object>")
_KOSMOS2_PAIR = re.compile(r"<patch_index_(\d+)>\s*<patch_index_(\d+)>")
_JSON_BLOCK = re.compile(r"```(?:json)?\s*(.*?)```", re.S)

KOSMOS2_GRID = 32
PALIGEMMA_BINS = 1024
FLORENCE2_BINS = 1000
PERMILLE = 1000


def _from_permille(values: Sequence[float], width: float, height: float) -> Box:
    x0, y0, x1, y1 = values
    return Box.from_corners(
        x0 / PERMILLE * width, y0 / PERMILLE * height, x1 / PERMILLE * width, y1 / PERMILLE * height
    ).clip(width, height)


def _to_permille(box: Box, width: float, height: float) -> list[int]:
    b = box.clip(width, height)
    return [
        round(b.x0 / width * PERMILLE),
        round(b.y0 / height * PERMILLE),
        round(b.x1 / width * PERMILLE),
        round(b.y1 / height * PERMILLE),
    ]


def _bin_of(value: float, size: float, bins: int) -> int:
    """Quantise a coordinate in [0, size] to one of `bins` bins (bin i covers [i, i+1) * size / bins)."""
    return min(bins - 1, max(0, math.floor(value / size * bins)))


def _bin_edges(lo_bin: int, hi_bin: int, size: float, bins: int) -> tuple[float, float]:
    """Dequantise a (low, high) bin pair to the outer edges of those bins."""
    lo, hi = sorted((lo_bin, hi_bin))
    return lo * size / bins, (hi + 1) * size / bins


def _loc_box(bins: Sequence[int], width: float, height: float) -> Box | None:
    """An x-first 1000-bin `<loc_N>` quadruple as a box; None when a bin is out of range.

    Florence-2 dequantises to bin centres; the outer edges of the two end bins are used here instead:
    they contain the centres and make format -> parse cover the original box.
    """
    x0, y0, x1, y1 = bins
    if max(x0, y0, x1, y1) >= FLORENCE2_BINS:
        return None
    xa, xb = _bin_edges(x0, x1, width, FLORENCE2_BINS)
    ya, yb = _bin_edges(y0, y1, height, FLORENCE2_BINS)
    return Box(xa, ya, xb, yb)


def _parse_json_boxes(text: str) -> list[dict]:
    candidates = [m.group(1) for m in _JSON_BLOCK.finditer(text)] or [text]
    for candidate in candidates:
        start = min((i for i in (candidate.find("["), candidate.find("{")) if i >= 0), default=-1)
        if start < 0:
            continue
        try:
            data = json.loads(candidate[start:])
        except json.JSONDecodeError:
            try:  # tolerate trailing prose after the JSON value
                data, _ = json.JSONDecoder().raw_decode(candidate[start:])
            except json.JSONDecodeError:
                continue
        items = data if isinstance(data, list) else [data]
        return [item for item in items if isinstance(item, dict)]
    return []


def parse_boxes(text: str, dialect: BoxDialect, width: float, height: float) -> list[GroundedBox]:
    """Every box `text` states in `dialect`, as GroundedBoxes in pixels of a `width` x `height` view.

    Malformed fragments are skipped, never raised: model output is untrusted. Boxes are clipped to the view.
    """
    dialect = BoxDialect(dialect)
    out: list[GroundedBox] = []
    if dialect is BoxDialect.GENERIC:
        for m in _GENERIC.finditer(text):
            out.append(GroundedBox(_from_permille([float(v) for v in m.groups()], width, height)))
    elif dialect in (BoxDialect.QWEN_VL, BoxDialect.QWEN2_VL):
        pattern = _QWEN_VL if dialect is BoxDialect.QWEN_VL else _QWEN2_VL
        for m in pattern.finditer(text):
            label, *values = m.groups()
            out.append(
                GroundedBox(_from_permille([float(v) for v in values], width, height), (label or "").strip())
            )
    elif dialect is BoxDialect.INTERNVL:
        for m in _INTERNVL_REF_BOX.finditer(text):
            label = (m.group(1) or "").strip()
            for one in _INTERNVL_ONE.finditer(m.group(2)):
                out.append(
                    GroundedBox(_from_permille([float(v) for v in one.groups()], width, height), label)
                )
    elif dialect in (BoxDialect.QWEN2_5_VL, BoxDialect.QWEN3_VL):
        for item in _parse_json_boxes(text):
            values = item.get("bbox_2d")
            if not (isinstance(values, list) and len(values) == 4):
                continue
            try:
                coords = [float(v) for v in values]
                if dialect is BoxDialect.QWEN3_VL:
                    box = _from_permille(coords, width, height)
                else:
                    box = Box.from_corners(*coords).clip(width, height)
            except (TypeError, ValueError):
                continue
            out.append(GroundedBox(box, str(item.get("label", "")).strip()))
    elif dialect is BoxDialect.PALIGEMMA:
        for m in _PALIGEMMA.finditer(text):
            y0, x0, y1, x1 = (int(v) for v in m.groups()[:4])
            if max(y0, x0, y1, x1) >= PALIGEMMA_BINS:
                continue
            xa, xb = _bin_edges(x0, x1, width, PALIGEMMA_BINS)
            ya, yb = _bin_edges(y0, y1, height, PALIGEMMA_BINS)
            out.append(GroundedBox(Box(xa, ya, xb, yb), m.group(5).strip()))
    elif dialect is BoxDialect.FLORENCE2:
        for m in _FLORENCE2.finditer(text):
            locs = [int(v) for v in _FLORENCE2_LOC.findall(m.group(2))]
            label = m.group(1).strip()
            for i in range(0, len(locs) - 3, 4):
                box = _loc_box(locs[i : i + 4], width, height)
                if box is not None:
                    out.append(GroundedBox(box, label))
    elif dialect is BoxDialect.SIGHTLINE:
        for m in _SIGHTLINE.finditer(text):
            box = _loc_box([int(v) for v in m.groups()[1:]], width, height)
            if box is not None:
                out.append(GroundedBox(box, (m.group(1) or "").strip()))
    elif dialect is BoxDialect.KOSMOS2:
        cells = KOSMOS2_GRID * KOSMOS2_GRID
        for m in _KOSMOS2.finditer(text):
            label = (m.group(1) or "").strip()
            for pair in _KOSMOS2_PAIR.finditer(m.group(2)):
                first, last = int(pair.group(1)), int(pair.group(2))
                if first >= cells or last >= cells:
                    continue
                xa, xb = _bin_edges(first % KOSMOS2_GRID, last % KOSMOS2_GRID, width, KOSMOS2_GRID)
                ya, yb = _bin_edges(first // KOSMOS2_GRID, last // KOSMOS2_GRID, height, KOSMOS2_GRID)
                out.append(GroundedBox(Box(xa, ya, xb, yb), label))
    return out


def format_box(box: Box, dialect: BoxDialect, width: float, height: float, label: str = "") -> str:
    """Write `box` (view pixels of a `width` x `height` view) the way `dialect` states boxes."""
    dialect = BoxDialect(dialect)
    b = box.clip(width, height)
    if dialect is BoxDialect.GENERIC:
        return "<box>{},{},{},{}</box>".format(*_to_permille(b, width, height))
    if dialect is BoxDialect.QWEN_VL:
        x0, y0, x1, y1 = _to_permille(b, width, height)
        ref = f"<ref>{label}</ref>" if label else ""
        return f"{ref}<box>({x0},{y0}),({x1},{y1})</box>"
    if dialect is BoxDialect.QWEN2_VL:
        x0, y0, x1, y1 = _to_permille(b, width, height)
        ref = f"<|object_ref_start|>{label}<|object_ref_end|>" if label else ""
        return f"{ref}<|box_start|>({x0},{y0}),({x1},{y1})<|box_end|>"
    if dialect is BoxDialect.INTERNVL:
        ref = f"<ref>{label}</ref>" if label else ""
        return ref + "<box>[[{},{},{},{}]]</box>".format(*_to_permille(b, width, height))
    if dialect is BoxDialect.QWEN2_5_VL:
        coords = [round(b.x0), round(b.y0), round(b.x1), round(b.y1)]
        return json.dumps([{"bbox_2d": coords, "label": label}])
    if dialect is BoxDialect.QWEN3_VL:
        return json.dumps([{"bbox_2d": _to_permille(b, width, height), "label": label}])
    if dialect is BoxDialect.PALIGEMMA:
        hi_x, hi_y = max(b.x0, b.x1 - 1e-9 * width), max(b.y0, b.y1 - 1e-9 * height)
        y0, x0 = _bin_of(b.y0, height, PALIGEMMA_BINS), _bin_of(b.x0, width, PALIGEMMA_BINS)
        y1, x1 = _bin_of(hi_y, height, PALIGEMMA_BINS), _bin_of(hi_x, width, PALIGEMMA_BINS)
        return f"<loc{y0:04d}><loc{x0:04d}><loc{y1:04d}><loc{x1:04d}> {label}".rstrip()
    if dialect in (BoxDialect.FLORENCE2, BoxDialect.SIGHTLINE):
        hi_x, hi_y = max(b.x0, b.x1 - 1e-9 * width), max(b.y0, b.y1 - 1e-9 * height)
        bins = [
            _bin_of(b.x0, width, FLORENCE2_BINS),
            _bin_of(b.y0, height, FLORENCE2_BINS),
            _bin_of(hi_x, width, FLORENCE2_BINS),
            _bin_of(hi_y, height, FLORENCE2_BINS),
        ]
        locs = "".join(f"<loc_{v}>" for v in bins)
        if dialect is BoxDialect.FLORENCE2:
            return label + locs
        return (f"<ref>{label}</ref>" if label else "") + f"<box>{locs}</box>"
    if dialect is BoxDialect.KOSMOS2:
        hi_x, hi_y = max(b.x0, b.x1 - 1e-9 * width), max(b.y0, b.y1 - 1e-9 * height)
        first = _bin_of(b.y0, height, KOSMOS2_GRID) * KOSMOS2_GRID + _bin_of(b.x0, width, KOSMOS2_GRID)
        last = _bin_of(hi_y, height, KOSMOS2_GRID) * KOSMOS2_GRID + _bin_of(hi_x, width, KOSMOS2_GRID)
        phrase = f"<phrase>{label}</phrase>" if label else ""
        return f"{phrase}<object><patch_index_{first:04d}><patch_index_{last:04d}></object>"
    raise ValueError(f"unknown dialect {dialect}")


def dialect_resolution(dialect: BoxDialect, width: float, height: float) -> tuple[float, float]:
    """The coarsest step (view pixels, x and y) a dialect can express: the tolerance of a round trip."""
    steps = {
        BoxDialect.GENERIC: PERMILLE,
        BoxDialect.QWEN_VL: PERMILLE,
        BoxDialect.QWEN2_VL: PERMILLE,
        BoxDialect.INTERNVL: PERMILLE,
        BoxDialect.QWEN3_VL: PERMILLE,
        BoxDialect.PALIGEMMA: PALIGEMMA_BINS,
        BoxDialect.FLORENCE2: FLORENCE2_BINS,
        BoxDialect.SIGHTLINE: FLORENCE2_BINS,
        BoxDialect.KOSMOS2: KOSMOS2_GRID,
    }
    if dialect is BoxDialect.QWEN2_5_VL:
        return (1.0, 1.0)
    n = steps[BoxDialect(dialect)]
    return (width / n, height / n)
