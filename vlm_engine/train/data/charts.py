"""Charts with known values: bar, pie, line and scatter, drawn on a light plot area.

Design choices:
- Values are multiples of 5 on a fixed 0-100 scale (gridlines every 20), so "within 5%" is a question of
  reading the plot, not of guessing the axis; series are told apart by colour, which a small input can see.
- Every bar, slice, line and point is a `Thing` with its box and value, so the same picture feeds value
  questions, grounding ("where is the red bar?") and counting ("how many points?").
"""

from __future__ import annotations

import math
import random

import numpy as np
from PIL import Image, ImageDraw

from vlm_engine.grounding import Affine, Box
from vlm_engine.train.data.things import COLOURS, Picture, Style, Thing

SUPERSAMPLE = 4
CHART_TYPES = ("bar", "pie", "line", "scatter")
PLOT_COLOURS = tuple(c for c in COLOURS if c not in ("white", "yellow", "cyan"))


def _canvas(rng: random.Random, size: int, style: Style) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    tone = rng.randint(200, 225) if style.held_out else rng.randint(230, 255)
    image = Image.new("RGB", (size * SUPERSAMPLE, size * SUPERSAMPLE), (tone, tone, tone))
    return image, ImageDraw.Draw(image)


def _plot_area(size: int) -> Box:
    margin = size // 10
    return Box(margin, margin, size - margin // 2, size - margin)


def _value_y(area: Box, value: float) -> float:
    return area.y1 - value / 100 * area.height


def _axes(draw: ImageDraw.ImageDraw, area: Box, style: Style) -> None:
    up = Affine.scale(SUPERSAMPLE).apply_box(area)
    grid = (150, 150, 150) if style.held_out else (190, 190, 190)
    for value in range(20, 101, 20):
        y = up.y1 - value / 100 * up.height
        draw.line((up.x0, y, up.x1, y), fill=grid, width=SUPERSAMPLE // 2)
    draw.line((up.x0, up.y0, up.x0, up.y1), fill=(40, 40, 40), width=SUPERSAMPLE)
    draw.line((up.x0, up.y1, up.x1, up.y1), fill=(40, 40, 40), width=SUPERSAMPLE)


def _value(rng: random.Random) -> int:
    return 5 * rng.randint(2, 20)


def bar_chart(rng: random.Random, style: Style, size: int) -> Picture:
    image, draw = _canvas(rng, size, style)
    area = _plot_area(size)
    _axes(draw, area, style)
    count = rng.randint(3, 5)
    colours = rng.sample(PLOT_COLOURS, count)
    slot = area.width / count
    things = []
    for i, colour in enumerate(colours):
        value = _value(rng)
        width = slot * rng.uniform(0.5, 0.75)
        x0 = area.x0 + i * slot + (slot - width) / 2
        box = Box(x0, _value_y(area, value), x0 + width, area.y1)
        draw.rectangle(Affine.scale(SUPERSAMPLE).apply_box(box).as_list(None), fill=style.colour(rng, colour))
        things.append(Thing("bar", colour, box, float(value)))
    return Picture(np.asarray(image.reduce(SUPERSAMPLE)), things, "chart", "a bar chart")


def pie_chart(rng: random.Random, style: Style, size: int) -> Picture:
    image, draw = _canvas(rng, size, style)
    count = rng.randint(2, 4)
    cuts = sorted(rng.sample(range(2, 19), count - 1))
    shares = [5 * (b - a) for a, b in zip([0, *cuts], [*cuts, 20], strict=True)]
    colours = rng.sample(PLOT_COLOURS, count)
    radius = size * rng.uniform(0.32, 0.42)
    cx, cy = size / 2 + rng.uniform(-3, 3), size / 2 + rng.uniform(-3, 3)
    things, start = [], rng.uniform(0, 360)
    for share, colour in zip(shares, colours, strict=True):
        end = start + share * 3.6
        up = Affine.scale(SUPERSAMPLE).apply_box(Box(cx - radius, cy - radius, cx + radius, cy + radius))
        draw.pieslice(up.as_list(None), start, end, fill=style.colour(rng, colour))
        angles = [start + (end - start) * k / 8 for k in range(9)]
        rim = [
            (cx + radius * math.cos(math.radians(a)), cy + radius * math.sin(math.radians(a))) for a in angles
        ]
        things.append(Thing("slice", colour, Box.from_points([(cx, cy), *rim]), float(share)))
        start = end
    return Picture(np.asarray(image.reduce(SUPERSAMPLE)), things, "chart", "a pie chart")


def line_chart(rng: random.Random, style: Style, size: int) -> Picture:
    image, draw = _canvas(rng, size, style)
    area = _plot_area(size)
    _axes(draw, area, style)
    points = rng.randint(4, 6)
    things = []
    for colour in rng.sample(PLOT_COLOURS, rng.randint(1, 3)):
        values = [_value(rng) for _ in range(points)]
        xy = [(area.x0 + area.width * (i + 0.5) / points, _value_y(area, v)) for i, v in enumerate(values)]
        up = [Affine.scale(SUPERSAMPLE).apply_point(x, y) for x, y in xy]
        draw.line(up, fill=style.colour(rng, colour), width=SUPERSAMPLE + 2)
        things.append(Thing("line", colour, Box.from_points(xy), float(values[-1])))
    return Picture(np.asarray(image.reduce(SUPERSAMPLE)), things, "chart", "a line chart")


def scatter_chart(rng: random.Random, style: Style, size: int) -> Picture:
    image, draw = _canvas(rng, size, style)
    area = _plot_area(size)
    _axes(draw, area, style)
    colour = rng.choice(PLOT_COLOURS)
    radius = size / 40
    things: list[Thing] = []
    wanted = rng.randint(1, 12)
    for _ in range(wanted * 20):
        if len(things) == wanted:
            break
        x, y = rng.uniform(area.x0 + 3, area.x1 - 3), rng.uniform(area.y0 + 3, area.y1 - 3)
        box = Box(x - radius, y - radius, x + radius, y + radius)
        if any(box.expanded(margin=radius).intersection(t.box) for t in things):
            continue
        draw.ellipse(Affine.scale(SUPERSAMPLE).apply_box(box).as_list(None), fill=style.colour(rng, colour))
        things.append(Thing("point", colour, box))
    return Picture(np.asarray(image.reduce(SUPERSAMPLE)), things, "chart", "a scatter plot")


def chart(rng: random.Random, style: Style, size: int, kind: str | None = None) -> Picture:
    makers = {"bar": bar_chart, "pie": pie_chart, "line": line_chart, "scatter": scatter_chart}
    return makers[kind or rng.choice(CHART_TYPES)](rng, style, size)
