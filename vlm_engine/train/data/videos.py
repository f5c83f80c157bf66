"""Short videos: shapes that appear, move and leave, with each one's visible time window known.

Design choices:
- A video is `FRAMES` pictures at 1 frame per second; frame i stands for [i, i + 1) seconds, so a shape
  seen in frames a..b is visible from a s to b + 1 s: the truth of temporal grounding.
- The background and each shape's shade stay fixed through a video; shapes move in straight lines.
"""

from __future__ import annotations

import random

import numpy as np
from PIL import Image, ImageDraw

from vlm_engine.grounding import Affine, Box
from vlm_engine.train.data.scenes import SUPERSAMPLE, draw_shape
from vlm_engine.train.data.things import COLOURS, SHAPES, Picture, Style, Thing

FRAMES = 6
FPS = 1.0


def video(
    rng: random.Random, style: Style, size: int
) -> tuple[list[Picture], list[tuple[Thing, float, float]]]:
    """The frames, and each shape (as first seen) with its visible window (start s, end s)."""
    background = Image.fromarray(style.background(rng, size)).resize(
        (size * SUPERSAMPLE, size * SUPERSAMPLE), Image.Resampling.NEAREST
    )
    count = rng.randint(1, 3)
    names = rng.sample([(c, s) for c in COLOURS for s in SHAPES], count)
    tracks = []
    for colour, shape in names:
        first = rng.randint(0, FRAMES - 2)
        last = rng.randint(first, FRAMES - 1)
        side = rng.randint(size // 6, size // 4)
        start = (rng.uniform(0, size - side), rng.uniform(0, size - side))
        end = (rng.uniform(0, size - side), rng.uniform(0, size - side))
        tracks.append((shape, colour, style.colour(rng, colour), first, last, side, start, end))
    frames: list[Picture] = []
    for i in range(FRAMES):
        canvas = background.copy()
        draw = ImageDraw.Draw(canvas)
        things = []
        for shape, colour, rgb, first, last, side, start, end in tracks:
            if not first <= i <= last:
                continue
            t = (i - first) / max(1, last - first)
            x, y = start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1])
            box = Box(x, y, x + side, y + side)
            draw_shape(draw, shape, Affine.scale(SUPERSAMPLE).apply_box(box), rgb)
            things.append(Thing(shape, colour, box))
        frames.append(Picture(np.asarray(canvas.reduce(SUPERSAMPLE)), things, "video"))
    windows = []
    for shape, colour, _, first, last, _, _, _ in tracks:
        seen = next(t for f in frames for t in f.things if (t.kind, t.colour) == (shape, colour))
        windows.append((seen, first / FPS, (last + 1) / FPS))
    return frames, windows
