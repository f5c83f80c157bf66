"""Property tests for the one coordinate convention: transforms, views, dialects, NMS and snapping."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vlm_engine.grounding import (
    Affine,
    Box,
    BoxDialect,
    View,
    dialect_resolution,
    format_box,
    nms,
    parse_boxes,
    relation_gap,
    snap_to_words,
    split_grid,
)

sizes = st.floats(min_value=8, max_value=5000, allow_nan=False)
unit = st.floats(min_value=0, max_value=1, allow_nan=False)


@st.composite
def boxes_in(draw, width: float, height: float, min_side: float = 0.0) -> Box:
    xa, xb = sorted([draw(unit) * width, draw(unit) * width])
    ya, yb = sorted([draw(unit) * height, draw(unit) * height])
    assume(xb - xa >= min_side and yb - ya >= min_side)
    return Box(xa, ya, xb, yb)


@st.composite
def source_and_box(draw, min_side_frac: float = 0.0):
    w, h = draw(sizes), draw(sizes)
    box = draw(boxes_in(w, h, min_side=min_side_frac * min(w, h)))
    return w, h, box


def close(a: Box, b: Box, tol: float) -> bool:
    return all(math.isclose(p, q, abs_tol=tol) for p, q in zip(a.as_list(None), b.as_list(None), strict=True))


@given(source_and_box(), st.sampled_from([0, 90, 180, 270]))
def test_page_rotation_round_trip(data, rotation):
    w, h, box = data
    forward = Affine.page_rotation(rotation, w, h)
    rotated = forward.apply_box(box)
    dw, dh = (h, w) if rotation in (90, 270) else (w, h)
    # the rotated box stays inside the displayed page and keeps its area
    assert rotated.x0 >= -1e-6 and rotated.x1 <= dw + 1e-6 and rotated.y0 >= -1e-6 and rotated.y1 <= dh + 1e-6
    assert math.isclose(rotated.area, box.area, rel_tol=1e-6, abs_tol=1e-6)
    assert close(forward.inverse().apply_box(rotated), box, 1e-6)


def test_page_rotation_90_moves_top_left_to_top_right():
    forward = Affine.page_rotation(90, 400, 600)  # displayed page is 600 wide, 400 tall
    assert forward.apply_point(0, 0) == (600, 0)
    assert forward.apply_point(400, 600) == (0, 400)


@given(source_and_box(), st.integers(1, 6), st.integers(1, 6), st.integers(16, 1024))
def test_tile_views_map_back_to_source(data, cols, rows, tile_px):
    w, h, box = data
    for cell in split_grid(Box(0, 0, w, h), cols, rows):
        view = View.of_region(cell, tile_px, tile_px)
        inside = box.intersection(cell)
        if inside is None:
            continue
        in_view = view.box_from_source(inside)
        assert close(view.box_to_source(in_view), inside, 1e-6 * max(w, h))


@given(source_and_box(), st.integers(32, 4000), st.integers(32, 4000), st.data())
def test_nested_views_compose(data, render_w, render_h, draw):
    """A zoom crop of a tile of a render maps back to the same source box as computing it directly."""
    w, h, _box = data
    render = View.of_source(w, h, render_w, render_h)
    tile_region = draw.draw(boxes_in(render_w, render_h, min_side=4))
    tile = render.sub_view(tile_region, 448, 448)
    crop_region = draw.draw(boxes_in(448, 448, min_side=2))
    zoom = tile.sub_view(crop_region, 896, 896)
    marked = draw.draw(boxes_in(896, 896))
    direct = tile.box_to_source(View.of_region(crop_region, 896, 896).box_to_source(marked))
    assert close(zoom.box_to_source(marked), direct, 1e-6 * max(w, h))


@given(source_and_box(), st.floats(-2, 3), st.floats(-2, 3))
def test_clip_stays_inside(data, dx, dy):
    w, h, box = data
    moved = Box(box.x0 + dx * w, box.y0 + dy * h, box.x1 + dx * w, box.y1 + dy * h)
    clipped = moved.clip(w, h)
    assert 0 <= clipped.x0 <= clipped.x1 <= w and 0 <= clipped.y0 <= clipped.y1 <= h
    if moved.intersection(Box(0, 0, w, h)) is not None:
        assert math.isclose(clipped.area, moved.intersection(Box(0, 0, w, h)).area, rel_tol=1e-9)


def test_view_clips_model_boxes_outside_the_view():
    view = View.of_region(Box(100, 200, 300, 400), 100, 100)  # 2 source units per pixel
    assert view.box_to_source(Box(-50, 50, 150, 80)).as_list() == [100, 300, 300, 360]


@pytest.mark.parametrize("dialect", list(BoxDialect))
@settings(max_examples=60)
@given(data=source_and_box(min_side_frac=0.05))
def test_dialect_round_trip(dialect, data):
    w, h, box = data
    text = format_box(box, dialect, w, h, label="total")
    parsed = parse_boxes(text, dialect, w, h)
    assert len(parsed) == 1
    step_x, step_y = dialect_resolution(dialect, w, h)
    tol = max(step_x, step_y) + 1e-6
    assert close(parsed[0].box, box, tol), (text, parsed[0].box, box)
    if dialect is not BoxDialect.GENERIC:
        assert parsed[0].label == "total"


@pytest.mark.parametrize(
    ("dialect", "text", "expected"),
    [
        (BoxDialect.GENERIC, "The total <box>100,200,300,400</box>", [100, 400, 300, 800]),
        (BoxDialect.QWEN_VL, "<ref>cat</ref><box>(100,200),(300,400)</box>", [100, 400, 300, 800]),
        (
            BoxDialect.QWEN2_VL,
            "<|object_ref_start|>cat<|object_ref_end|><|box_start|>(100,200),(300,400)<|box_end|>",
            [100, 400, 300, 800],
        ),
        (
            BoxDialect.QWEN2_5_VL,
            '```json\n[{"bbox_2d": [10, 20, 30, 40], "label": "cat"}]\n```',
            [10, 20, 30, 40],
        ),
        (BoxDialect.QWEN3_VL, '[{"bbox_2d": [100, 200, 300, 400], "label": "cat"}]', [100, 400, 300, 800]),
        (BoxDialect.INTERNVL, "<ref>cat</ref><box>[[100, 200, 300, 400]]</box>", [100, 400, 300, 800]),
        # PaliGemma: y first, 1024 bins; bins 256..767 in y and 512..767 in x
        (BoxDialect.PALIGEMMA, "<loc0256><loc0512><loc0767><loc0767> cat", [500, 500, 750, 1500]),
        (BoxDialect.FLORENCE2, "cat<loc_100><loc_200><loc_299><loc_399>", [100, 400, 300, 800]),
        (
            BoxDialect.SIGHTLINE,
            "<ref>cat</ref><box><loc_100><loc_200><loc_299><loc_399></box>",
            [100, 400, 300, 800],
        ),
        # Kosmos-2: patch 33 is row 1 col 1, patch 66 is row 2 col 2 of the 32x32 grid
        (
            BoxDialect.KOSMOS2,
            "<phrase>cat</phrase><object><patch_index_0033><patch_index_0066></object>",
            [31.25, 62.5, 93.75, 187.5],
        ),
    ],
)
def test_dialect_known_strings(dialect, text, expected):
    parsed = parse_boxes(text, dialect, 1000, 2000)
    assert [round(v, 2) for v in parsed[0].box.as_list(None)] == expected


def test_parsers_skip_garbage_and_keep_valid_boxes():
    text = "<box>1,2,3</box> <box>a,b,c,d</box> <box>10,10,20,20</box>"
    assert len(parse_boxes(text, BoxDialect.GENERIC, 100, 100)) == 1
    assert parse_boxes("[{bbox_2d: nope", BoxDialect.QWEN2_5_VL, 100, 100) == []
    assert parse_boxes('[{"bbox_2d": [1, "x", 3, 4]}]', BoxDialect.QWEN2_5_VL, 100, 100) == []
    assert parse_boxes("<loc9999><loc0001><loc0002><loc0003>", BoxDialect.PALIGEMMA, 100, 100) == []
    # boxes beyond the view are clipped to it
    assert parse_boxes('[{"bbox_2d": [-5, 10, 500, 20]}]', BoxDialect.QWEN2_5_VL, 100, 100)[
        0
    ].box.as_list() == [0, 10, 100, 20]


def test_internvl_multiple_boxes_for_one_ref():
    parsed = parse_boxes(
        "<ref>dogs</ref><box>[[0,0,100,100],[500,500,600,600]]</box>", BoxDialect.INTERNVL, 10, 10
    )
    assert [p.box.as_list() for p in parsed] == [[0, 0, 1, 1], [5, 5, 6, 6]]
    assert {p.label for p in parsed} == {"dogs"}


def test_iou_and_nms():
    a, b, c = Box(0, 0, 10, 10), Box(1, 1, 11, 11), Box(20, 20, 30, 30)
    assert math.isclose(a.iou(b), 81 / 119)
    assert a.iou(c) == 0.0
    assert nms([a, b, c], [0.9, 0.8, 0.7], iou_threshold=0.5) == [0, 2]
    assert nms([a, b, c], [0.1, 0.8, 0.7], iou_threshold=0.5) == [1, 2]


def test_relation_gap_compares_centres_along_the_relation_axis():
    left, right_low = Box(0, 0, 10, 10), Box(30, 40, 50, 60)  # centres (5, 5) and (40, 50)
    assert relation_gap(left, right_low, "to the left of") == 35
    assert relation_gap(left, right_low, "to the right of") == -35
    assert relation_gap(left, right_low, "above") == 45
    assert relation_gap(right_low, left, "below") == 45 and relation_gap(left, right_low, "below") == -45
    wide = Box(0, 0, 100, 10)  # centre x 50: a wide box is judged by its centre, not its left edge
    assert relation_gap(wide, right_low, "to the left of") < 0


def test_snap_to_words():
    words = [Box(10, 10, 50, 20), Box(55, 10, 90, 20), Box(10, 30, 40, 40)]
    snapped = snap_to_words(Box(8, 5, 75, 22), words)  # covers 57% of the second word
    assert snapped is not None
    box, hits = snapped
    assert hits == [0, 1] and box.as_list() == [10, 10, 90, 20]
    assert snap_to_words(Box(200, 200, 300, 300), words) is None


def test_box_rejects_inverted_and_non_finite():
    with pytest.raises(ValueError):
        Box(10, 0, 5, 5)
    with pytest.raises(ValueError):
        Box(0, 0, math.inf, 5)
    assert Box.from_corners(10, 5, 0, 0).as_list() == [0, 0, 10, 5]


def test_parallelogram_frame_maps_the_unit_square_onto_a_rotated_quad():
    frame = Affine.from_parallelogram((10, 20), (50, 50), (4, 28))
    assert frame.apply_point(0, 0) == (10, 20)
    assert frame.apply_point(1, 0) == (50, 50)
    assert frame.apply_point(0, 1) == (4, 28)
    assert frame.apply_point(1, 1) == (44, 58)
