"""Scenes of coloured shapes on textured backgrounds: the ground for grounding, counting, presence, space.

Design choices:
- Shapes are drawn at 4x the picture size and reduced (box filter), so edges are anti-aliased like a
  photo's, and boxes are exact: a shape's box is the square it is inscribed in, in picture pixels.
- Placement rejects a shape that would hide more than a third of one already placed (occlusion happens,
  disappearance does not), so every listed thing stays visible and countable.
"""

from __future__ import annotations

import random

import numpy as np
from PIL import Image, ImageDraw

from vlm_engine.grounding import Affine, Box
from vlm_engine.train.data.things import COLOURS, SHAPES, Picture, Style, Thing

SUPERSAMPLE = 4
MAX_OCCLUDED = 1 / 3


def draw_shape(draw: ImageDraw.ImageDraw, kind: str, box: Box, fill: tuple[int, int, int]) -> None:
    """`kind` inscribed in `box` (already scaled to the drawing's pixels)."""
    x0, y0, x1, y1 = box.x0, box.y0, box.x1, box.y1
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if kind == "circle":
        draw.ellipse((x0, y0, x1, y1), fill=fill)
    elif kind == "square":
        draw.rectangle((x0, y0, x1, y1), fill=fill)
    elif kind == "triangle":
        draw.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=fill)
    elif kind == "diamond":
        draw.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=fill)
    else:
        raise ValueError(f"unknown shape {kind!r}")


def hidden_fraction(box: Box, covers: list[Box]) -> float:
    """The largest share of `box` that any one of `covers` overlaps."""
    overlaps = [box.intersection(c) for c in covers]
    return max((o.area / box.area for o in overlaps if o is not None), default=0.0)


def place_boxes(rng: random.Random, count: int, size: int, min_side: int, max_side: int) -> list[Box]:
    """Up to `count` square boxes inside the picture, none hiding more than a third of an earlier one."""
    boxes: list[Box] = []
    for _ in range(count * 30):
        if len(boxes) == count:
            break
        side = rng.randint(min_side, max_side)
        x0, y0 = rng.randint(0, size - side), rng.randint(0, size - side)
        box = Box(x0, y0, x0 + side, y0 + side)
        if (
            all(hidden_fraction(b, [box]) <= MAX_OCCLUDED for b in boxes)
            and hidden_fraction(box, boxes) <= MAX_OCCLUDED
        ):
            boxes.append(box)
    return boxes


def render(things: list[Thing], size: int, rng: random.Random, style: Style) -> Picture:
    background = Image.fromarray(style.background(rng, size)).resize(
        (size * SUPERSAMPLE, size * SUPERSAMPLE), Image.Resampling.NEAREST
    )
    draw = ImageDraw.Draw(background)
    upscale = Affine.scale(SUPERSAMPLE)
    for thing in things:
        draw_shape(draw, thing.kind, upscale.apply_box(thing.box), style.colour(rng, thing.colour))
    pixels = background.reduce(SUPERSAMPLE)
    return Picture(np.asarray(pixels), things, "scene")


def scene(
    rng: random.Random,
    style: Style,
    size: int,
    count: int,
    colours: tuple[str, ...] = COLOURS,
    shapes: tuple[str, ...] = SHAPES,
) -> Picture:
    """A scene of `count` shapes (fewer if they do not fit), colours and kinds drawn at random."""
    min_side, max_side = (size // 10, size // 5) if count > 6 else (size // 8, size // 4)
    boxes = place_boxes(rng, count, size, min_side, max_side)
    things = [Thing(rng.choice(shapes), rng.choice(colours), box) for box in boxes]
    return render(things, size, rng, style)
