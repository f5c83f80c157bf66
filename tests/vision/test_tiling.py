"""Dynamic tiling and native-resolution planning: grids, budgets, and tiles that map back to the source."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vlm_engine.grounding import Box, View
from vlm_engine.vision.tiling import (
    TileKind,
    TilingConfig,
    candidate_grids,
    choose_grid,
    cut_views,
    plan_native,
    plan_tiles,
    smart_resize,
)


@pytest.mark.parametrize(
    ("size", "grid"),
    [((448, 448), (1, 1)), ((1792, 448), (4, 1)), ((448, 1344), (1, 3)), ((1190, 1684), (2, 3))],
)
def test_grid_matches_aspect(size, grid):
    assert choose_grid(*size, tile_size=448, min_tiles=1, max_tiles=12) == grid


def test_tie_prefers_larger_grid_only_with_enough_pixels():
    # square source: 1x1, 2x2 and 3x3 all match; a big source earns the larger grid
    assert choose_grid(2000, 2000, 448, 1, 9) == (3, 3)
    assert choose_grid(300, 300, 448, 1, 9) == (1, 1)


@given(st.floats(50, 5000), st.floats(50, 5000), st.integers(1, 4), st.integers(4, 16))
def test_tiles_cover_the_source_exactly(w, h, min_tiles, max_tiles):
    plan = plan_tiles(w, h, TilingConfig(min_tiles=min_tiles, max_tiles=max_tiles))
    grid = [t for t in plan.tiles if t.kind is TileKind.TILE]
    assert min_tiles <= len(grid) <= max_tiles and len(grid) == plan.cols * plan.rows
    assert math.isclose(sum(t.source_region.area for t in grid), w * h, rel_tol=1e-9)
    for a in grid:  # no overlap between grid tiles
        for b in grid:
            if a is not b:
                inter = a.source_region.intersection(b.source_region)
                assert inter is None or inter.area < 1e-6 * w * h
    thumbs = [t for t in plan.tiles if t.kind is TileKind.THUMBNAIL]
    assert len(thumbs) == (1 if len(grid) > 1 else 0)
    assert plan.visual_tokens == len(plan.tiles) * 256


def test_token_budget_caps_tiles():
    plan = plan_tiles(4000, 1000, TilingConfig(max_tiles=12, max_visual_tokens=256 * 4))
    assert plan.visual_tokens <= 256 * 4 and plan.cols * plan.rows == 3
    with pytest.raises(ValueError):
        plan_tiles(4000, 1000, TilingConfig(max_visual_tokens=300))


def test_candidate_grids_are_ordered_by_count():
    grids = candidate_grids(2, 4)
    assert grids[0][0] * grids[0][1] == 2 and all(2 <= c * r <= 4 for c, r in grids)


@given(st.floats(10, 8000), st.floats(10, 8000))
def test_smart_resize_bounds(w, h):
    if max(w, h) / min(w, h) > 200:
        return
    rw, rh = smart_resize(w, h, factor=28, min_pixels=56 * 56, max_pixels=1280 * 28 * 28)
    assert rw % 28 == 0 and rh % 28 == 0
    assert rw * rh <= 1280 * 28 * 28


def test_native_plan_respects_token_budget():
    plan = plan_native(595, 842, TilingConfig(max_visual_tokens=400), pixel_scale=2.0)
    assert plan.visual_tokens <= 400
    [tile] = plan.tiles
    assert tile.kind is TileKind.NATIVE and tile.source_region.as_list() == [0, 0, 595, 842]


def test_cut_views_shows_the_right_pixels():
    """A marker drawn at a known source box appears where each tile's view says it is."""
    src_w, src_h = 1000.0, 600.0  # source units (e.g. points)
    render = View.of_source(src_w, src_h, 2000, 1200)  # rendered at 2 px per unit
    pixels = np.full((1200, 2000, 3), 255, np.uint8)
    marker = Box(700, 100, 760, 160)  # source units
    m = render.box_from_source(marker)
    pixels[int(m.y0) : int(m.y1), int(m.x0) : int(m.x1)] = 0
    plan = plan_tiles(src_w, src_h, TilingConfig(tile_size=224, max_tiles=6))
    crops = cut_views(pixels, render, [t.view for t in plan.tiles])
    found = []
    for tile, crop in zip(plan.tiles, crops, strict=True):
        assert crop.shape == (tile.view.height, tile.view.width, 3)
        dark = crop.min(axis=2) < 128
        if dark.any() and tile.kind is TileKind.TILE:
            ys, xs = np.nonzero(dark)
            found.append(tile.view.box_to_source(Box(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)))
    assert found
    recovered = found[0]
    for box in found[1:]:
        recovered = recovered.union(box)
    assert recovered.iou(marker) > 0.85


def test_cut_views_slices_a_canvas_render_without_copying():
    plan = plan_tiles(900, 600, TilingConfig(tile_size=100, max_tiles=6))
    canvas_view = View.of_source(900, 600, *plan.canvas_size)
    rng = np.random.default_rng(0)
    canvas = rng.integers(0, 256, (plan.canvas_size[1], plan.canvas_size[0], 3), dtype=np.uint8)
    drawn = []
    views = cut_views(
        canvas,
        canvas_view,
        [t.view for t in plan.tiles],
        render=lambda v: drawn.append(v) or np.zeros((v.height, v.width, 3)),
    )
    grid = [v for t, v in zip(plan.tiles, views, strict=True) if t.kind is TileKind.TILE]
    assert all(np.shares_memory(v, canvas) for v in grid)
    assert drawn == []  # the thumbnail is an exact reduction of the canvas: nothing needed drawing
    thumb = views[-1]
    assert thumb.shape == (100, 100, 3)
    first = canvas[: plan.rows, : plan.cols].reshape(-1, 3).mean(axis=0)
    assert np.allclose(thumb[0, 0], first, atol=1)
    redrawn = cut_views(
        canvas,
        canvas_view,
        [t.view for t in plan.tiles],
        render=lambda v: drawn.append(v) or np.zeros((v.height, v.width, 3)),
        redraw=True,  # the source draws itself cheaply: the thumbnail is drawn, the tiles stay slices
    )
    assert drawn == [plan.tiles[-1].view] and redrawn[-1].shape == (100, 100, 3)
    assert all(np.shares_memory(v, canvas) for v in redrawn[:-1])
    drawn.clear()
    odd = View.of_region(Box(10, 10, 95.5, 60), 40, 30)  # not pixel-aligned: must be drawn
    cut_views(
        canvas, canvas_view, [odd], render=lambda v: drawn.append(v) or np.zeros((v.height, v.width, 3))
    )
    assert drawn == [odd]
