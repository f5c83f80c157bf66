"""The records every generator produces: a `Thing` (an object with a box), a `Picture`, a `Sample`.

Design choices:
- A thing's box is in pixels of the picture it was drawn into (the picture is its own source), so a sample's
  truth can be compared with what a backend returns in source units without any conversion.
- A `Style` holds everything a split varies: colour shades, backgrounds, fonts. The training split and the
  held-out split draw from disjoint shade, texture and font sets under the same colour names.
- `Sample.truth` is the machine-checkable answer (a box, a count, yes/no, a value, a time window) that the
  evaluation scores against; `answer` is the text the model is trained to write; `rejected` is a plausible
  wrong answer (a hallucinated object, a wrong count, a wrong box) for preference optimisation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vlm_engine.grounding import Box

COLOURS = ("red", "green", "blue", "yellow", "orange", "purple", "cyan", "white")
SHAPES = ("circle", "square", "triangle", "diamond")
CHART_KINDS = ("bar", "slice", "point", "line")
DOCUMENT_KINDS = ("title", "paragraph", "table", "figure", "field")
KINDS = ("none", *SHAPES, *CHART_KINDS, *DOCUMENT_KINDS)

# Two disjoint shade sets per colour name: the training split and the held-out split.
_SHADES: dict[str, tuple[tuple[tuple[int, int, int], ...], tuple[tuple[int, int, int], ...]]] = {
    "red": (((220, 30, 30), (200, 20, 50), (240, 60, 40)), ((180, 10, 20), (230, 45, 60))),
    "green": (((30, 190, 40), (20, 160, 70), (60, 210, 50)), ((40, 140, 30), (80, 200, 90))),
    "blue": (((30, 60, 230), (20, 90, 210), (50, 50, 190)), ((10, 40, 170), (70, 110, 240))),
    "yellow": (((240, 230, 30), (250, 210, 40), (230, 240, 80)), ((220, 220, 10), (255, 240, 100))),
    "orange": (((250, 140, 20), (240, 120, 40), (255, 160, 50)), ((230, 110, 10), (255, 150, 70))),
    "purple": (((150, 40, 200), (130, 30, 170), (170, 60, 220)), ((120, 20, 150), (180, 80, 210))),
    "cyan": (((30, 220, 230), (20, 200, 200), (60, 240, 240)), ((10, 180, 210), (90, 230, 220))),
    "white": (((245, 245, 245), (230, 230, 235), (250, 248, 240)), ((225, 225, 225), (255, 255, 250))),
}


@dataclass(frozen=True)
class Style:
    """What a split varies. `held_out` picks the second shade set, other textures and fonts."""

    held_out: bool = False

    def colour(self, rng: random.Random, name: str) -> tuple[int, int, int]:
        """A shade of `name`. Training shades are also dimmed or brightened (x0.75-1.1, hue kept) and
        jittered more: photometric augmentation, so unseen held-out shades are less of a surprise."""
        shades = _SHADES[name][1 if self.held_out else 0]
        base = rng.choice(shades)
        gain, spread = (1.0, 8) if self.held_out else (rng.uniform(0.75, 1.1), 14)
        return tuple(int(np.clip(c * gain + rng.randint(-spread, spread), 0, 255)) for c in base)  # type: ignore[return-value]

    def background(self, rng: random.Random, size: int) -> np.ndarray:
        """A dark textured background: flat noise, a gradient, stripes (vertical or diagonal) or a smooth
        random field (held out: blotches, checks)."""
        np_rng = np.random.default_rng(rng.getrandbits(32))
        base = rng.randint(10, 60)
        image = np.full((size, size, 3), base, np.int16)
        styles = (
            ("checks", "blotches") if self.held_out else ("flat", "gradient", "stripes", "diagonal", "field")
        )
        kind = rng.choice(styles)
        yy, xx = np.mgrid[0:size, 0:size]
        if kind == "gradient":
            image += (yy * rng.randint(0, 30) // size)[..., None].astype(np.int16)
        elif kind == "stripes":
            image += ((xx // rng.randint(3, 8)) % 2 * rng.randint(5, 15))[..., None].astype(np.int16)
        elif kind == "diagonal":
            image += (((xx + yy) // rng.randint(3, 8)) % 2 * rng.randint(5, 15))[..., None].astype(np.int16)
        elif kind == "field":  # a coarse random grid, upsampled: soft patches of light and shade
            cells = rng.randint(3, 8)
            coarse = np_rng.integers(0, rng.randint(8, 20), (cells, cells)).astype(np.int16)
            image += coarse[yy * cells // size, xx * cells // size][..., None]
        elif kind == "checks":
            cell = rng.randint(4, 10)
            image += (((xx // cell) + (yy // cell)) % 2 * rng.randint(5, 15))[..., None].astype(np.int16)
        elif kind == "blotches":
            image += (np.sin(xx / rng.uniform(3, 9)) * np.cos(yy / rng.uniform(3, 9)) * 10)[..., None].astype(
                np.int16
            )
        image += np_rng.integers(-6, 7, image.shape, dtype=np.int16)
        return np.clip(image, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Thing:
    kind: str  # one of KINDS
    colour: str  # one of COLOURS, or "" (documents)
    box: Box  # pixels of the picture
    value: float | None = None  # a chart value (bar height, slice share, point value)
    label: str = ""  # text the thing carries (a field's key, a title's words)

    @property
    def name(self) -> str:
        """How a question refers to it: 'red circle', 'table'."""
        return f"{self.colour} {self.kind}".strip()


@dataclass
class Picture:
    pixels: np.ndarray  # (size, size, 3) uint8 RGB
    things: list[Thing]  # drawing order: later things lie on top
    domain: str  # "scene" | "chart" | "document" | "video"
    caption: str = ""


@dataclass
class Sample:
    task: str  # caption | ground | find_all | count | presence | spatial | chart | extract | temporal
    pictures: list[Picture]  # one, or a video's frames in time order
    question: str
    answer: str
    truth: dict[str, Any] = field(default_factory=dict)
    rejected: str | None = None
    subset: str = ""  # e.g. POPE's random/popular/adversarial, the count bucket
    referents: list[Box] | None = None  # what the question is about (may be none); None: not applicable
