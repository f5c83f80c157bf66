"""Per-patch targets of a picture for the encoder's auxiliary losses (stage 0).

Design choices:
- The target of a patch is read at its centre point: the topmost thing whose box holds that point gives
  the patch its kind, colour, box (as fractions of the picture) and value; a patch no thing covers is
  "none" with no box. A separate map marks the patch holding each thing's centre, whose sum is the count.
- These dense signals teach a from-scratch encoder, in minutes, what an object is, where its edges are
  and what colour it has: what the language model later reads boxes, counts and answers from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vlm_engine.grounding import Box
from vlm_engine.train.data.things import COLOURS, KINDS, Picture

KIND_INDEX = {k: i for i, k in enumerate(KINDS)}
COLOUR_INDEX = {c: i + 1 for i, c in enumerate(COLOURS)}  # 0: no colour


@dataclass
class DenseTargets:
    kind: np.ndarray  # (g, g) int64
    colour: np.ndarray  # (g, g) int64
    box: np.ndarray  # (g, g, 4) float32, x0 y0 x1 y1 as fractions of the picture
    covered: np.ndarray  # (g, g) bool: a thing covers the patch centre (box and value are defined)
    centre: np.ndarray  # (g, g) float32: 1 where a thing's centre falls
    value: np.ndarray  # (g, g) float32: the covering thing's value / 100 (0 when it has none)
    valued: np.ndarray  # (g, g) bool


def dense_targets(picture: Picture, grid: int) -> DenseTargets:
    size = picture.pixels.shape[0]
    kind = np.zeros((grid, grid), np.int64)
    colour = np.zeros((grid, grid), np.int64)
    box = np.zeros((grid, grid, 4), np.float32)
    covered = np.zeros((grid, grid), bool)
    centre = np.zeros((grid, grid), np.float32)
    value = np.zeros((grid, grid), np.float32)
    valued = np.zeros((grid, grid), bool)
    for thing in picture.things:  # drawing order: later things overwrite, as they lie on top
        b = thing.box
        mask = _covered_cells(b, size, grid)
        kind[mask] = KIND_INDEX[thing.kind]
        colour[mask] = COLOUR_INDEX.get(thing.colour, 0)
        box[mask] = np.array([b.x0, b.y0, b.x1, b.y1], np.float32) / size
        covered |= mask
        valued[mask] = thing.value is not None
        value[mask] = (thing.value or 0.0) / 100
        centre[_centre_cell(b, size, grid)] = 1.0
    return DenseTargets(kind, colour, box, covered, centre, value, valued)


def referent_map(boxes: list[Box], size: int, grid: int) -> np.ndarray:
    """(grid, grid) float32: 1 for a cell whose centre lies in one of `boxes` or that holds a box's centre."""
    out = np.zeros((grid, grid), np.float32)
    for b in boxes:
        out[_covered_cells(b, size, grid)] = 1.0
        out[_centre_cell(b, size, grid)] = 1.0
    return out


def _covered_cells(box: Box, size: int, grid: int) -> np.ndarray:
    """(grid, grid) bool: the cells whose centre point lies in `box`."""
    centres = (np.arange(grid) + 0.5) * size / grid
    cols = (centres >= box.x0) & (centres < box.x1)
    rows = (centres >= box.y0) & (centres < box.y1)
    return rows[:, None] & cols[None, :]


def _centre_cell(box: Box, size: int, grid: int) -> tuple[int, int]:
    """(row, col) of the cell holding the box's centre."""
    cx, cy = box.center
    cell = size / grid
    return min(grid - 1, int(cy / cell)), min(grid - 1, int(cx / cell))
