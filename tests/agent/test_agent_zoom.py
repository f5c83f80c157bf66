"""Zoom on small print: a scanned page (a 300-dpi picture of printed text, no text layer) whose 5-pt code
is not read right at a 72-dpi look; the zoomed re-read reads it, and its box lands on the code's place on
the page."""

from __future__ import annotations

import pymupdf
import pytest

from vlm_engine.agent.trace import Trace
from vlm_engine.agent.zoom import DEFAULT_ZOOM, read_text
from vlm_engine.grounding import Box, pixel_height, zoom_view
from vlm_engine.media.pdf import PdfDocument

CODE = "Lot: 7KX93PQM"


@pytest.fixture(scope="module")
def scan(tmp_path_factory) -> tuple[str, Box]:
    printed = pymupdf.open()
    page = printed.new_page(width=300, height=200)
    page.insert_text((30, 40), "Goods received note", fontsize=14)
    page.insert_text((160, 150), CODE, fontsize=5)
    [where] = page.search_for(CODE)
    picture = page.get_pixmap(dpi=300)
    out = pymupdf.open()
    out.new_page(width=300, height=200).insert_image(pymupdf.Rect(0, 0, 300, 200), pixmap=picture)
    path = tmp_path_factory.mktemp("zoom") / "scan.pdf"
    out.save(path)
    return str(path), Box(*where)


def test_small_print_is_read_only_with_zoom(scan):
    path, where = scan
    with PdfDocument.open(path) as doc:
        page = doc.page(0)
        assert page.info().image_only
        look = page.view_at(72)
        trace = Trace()
        plain = read_text(page.render_view, (page.width, page.height), look, 0, trace, None)
        zoomed = read_text(page.render_view, (page.width, page.height), look, 0, trace, DEFAULT_ZOOM)
    squash = lambda lines: ["".join(line.text.split()) for line in lines]  # noqa: E731
    assert "Lot:7KX93PQM" not in squash(plain)
    [code] = [line for line in zoomed if "".join(line.text.split()) == "Lot:7KX93PQM"]
    assert code.box.iou(where) > 0.5 and code.page == 0
    [sharpen] = [s for s in trace.steps if s.tool == "zoom_text"]
    [unread] = [s for s in trace.steps if s.tool == "zoom_unread"]
    assert sharpen.outputs["changed"] + unread.outputs["lines"] >= 1  # misread, or not found at all


def test_zoom_view_draws_the_box_at_the_asked_height_inside_the_source():
    box = Box(280, 10, 295, 16)
    view = zoom_view(box, 300, 200, box_pixels=30, context=1.0)
    assert pixel_height(view, box) == pytest.approx(30, rel=0.02)
    region = view.source_region
    assert region.x1 <= 300 and region.y0 >= 0  # clipped to the page
    assert region.x0 == pytest.approx(box.x0 - box.width) and region.y1 == pytest.approx(box.y1 + box.height)
    with pytest.raises(ValueError):
        zoom_view(Box(400, 400, 410, 410), 300, 200, box_pixels=30)
