"""PDFs from the real-world corpus, hostile PDFs, and the displayed-page coordinate convention."""

from __future__ import annotations

import numpy as np
import pymupdf
import pytest

from vlm_engine.errors import ErrorCode, MediaError
from vlm_engine.grounding import Box
from vlm_engine.media.limits import MediaLimits
from vlm_engine.media.pdf import PdfDocument
from vlm_engine.media.sandbox import run_isolated

REAL = "pdf/real"
MALFORMED = "pdf/malformed"
PASSWORDS = {"libreoffice-writer-password.pdf": "openpassword"}
IMAGE_ONLY = {
    "imagemagick-CCITTFaxDecode.pdf",
    "cmyk-image.pdf",
    "grayscale-image.pdf",
    "imagemagick-images.pdf",
}


def _corpus_ids(sub):
    from tests.conftest import CORPUS_DIR

    return sorted(p.name for p in (CORPUS_DIR / sub).glob("*.pdf"))


@pytest.mark.parametrize("name", _corpus_ids(REAL))
def test_every_real_pdf_opens_renders_and_has_text_or_is_image_only(corpus_dir, name):
    path = corpus_dir / REAL / name
    with PdfDocument.open(path, password=PASSWORDS.get(name)) as doc:
        assert doc.page_count >= 1
        infos = list(doc.pages())
        for info in infos:
            page = doc.page(info.index).render(dpi=50)
            assert page.pixels.dtype == np.uint8 and page.pixels.shape[2] == 3
            assert abs(page.pixels.shape[1] / page.pixels.shape[0] - info.width / info.height) < 0.05
        if name in IMAGE_ONLY:
            assert all(i.image_only for i in infos)
        else:
            layer = doc.page(0).text_layer
            assert layer.words and layer.lines and layer.blocks
            for word in layer.words:  # every word box lies on the displayed page
                assert 0 <= word.box.x0 <= word.box.x1 <= infos[0].width + 1e-6
                assert 0 <= word.box.y0 <= word.box.y1 <= infos[0].height + 1e-6


def test_encrypted_pdf_needs_its_password(corpus_dir):
    path = corpus_dir / REAL / "libreoffice-writer-password.pdf"
    with pytest.raises(MediaError) as err:
        PdfDocument.open(path)
    assert err.value.code is ErrorCode.ENCRYPTED
    with pytest.raises(MediaError) as err:
        PdfDocument.open(path, password="wrong")
    assert err.value.code is ErrorCode.ENCRYPTED
    with PdfDocument.open(path, password="openpassword") as doc:
        assert doc.page(0).text_layer.words


def _open_everything(path: str) -> dict:
    """Everything ingest would do with a PDF, run inside the sandbox by the malformed-file test."""
    with PdfDocument.open(path, password=None, limits=MediaLimits(max_seconds=20)) as doc:
        pages = []
        for index in range(doc.page_count):
            page = doc.page(index)
            page.render(dpi=72)
            pages.append(page.info().word_count)
        return {"pages": doc.page_count, "words": pages}


@pytest.mark.parametrize("name", _corpus_ids(MALFORMED))
def test_malformed_pdf_ends_in_typed_error_or_valid_partial_result(corpus_dir, name):
    path = corpus_dir / MALFORMED / name
    try:
        result = run_isolated(_open_everything, str(path), timeout_s=30)
    except MediaError as exc:
        assert exc.code in {
            ErrorCode.BAD_DOCUMENT,
            ErrorCode.ENCRYPTED,
            ErrorCode.UNSUPPORTED_TYPE,
            ErrorCode.TOO_LARGE,
            ErrorCode.TIMEOUT,
            ErrorCode.PARSER_CRASHED,
        }
        assert exc.detail
    else:
        assert result["pages"] >= 1 and len(result["words"]) == result["pages"]


@pytest.mark.parametrize("name", ["enc-R2,V1,U=view,O=master.pdf", "enc-XI-R6,V5,U=view,O=master.pdf"])
def test_malformed_encrypted_pdfs_open_with_user_password(corpus_dir, name):
    with PdfDocument.open(corpus_dir / MALFORMED / name, password="view") as doc:
        assert doc.page_count >= 1
        doc.page(0).render(dpi=36)


def _ink_box(pixels, threshold=128) -> Box:
    ys, xs = np.nonzero(pixels.min(axis=2) < threshold)
    return Box(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_text_layer_box_lands_on_the_words_pixels_of_a_rotated_cropped_page(rotation):
    doc = pymupdf.open()
    page = doc.new_page(width=400, height=600)
    page.insert_text((120, 200), "GROUNDED", fontsize=24)
    page.set_cropbox(pymupdf.Rect(20, 30, 380, 580))
    page.set_rotation(rotation)
    data = doc.tobytes()
    with PdfDocument.open(data) as pdf:
        page = pdf.page(0)
        [word] = page.text_layer.words
        assert word.text == "GROUNDED"
        rendered = page.render(dpi=144)
        assert (page.width, page.height) == ((550, 360) if rotation in (90, 270) else (360, 550))
        ink_in_points = rendered.view.box_to_source(_ink_box(rendered.pixels))
        # the glyphs' ink sits inside the word's box (font boxes include ascender/descender space)
        assert word.box.iou(ink_in_points) > 0.5
        inter = word.box.intersection(ink_in_points)
        assert inter is not None and inter.area / ink_in_points.area > 0.95


def test_render_respects_the_pixel_budget():
    doc = pymupdf.open()
    doc.new_page(width=2000, height=2000)
    with PdfDocument.open(doc.tobytes(), limits=MediaLimits(max_render_pixels=1_000_000)) as pdf:
        page = pdf.page(0).render(dpi=300)
        assert page.pixels.shape[0] * page.pixels.shape[1] <= 1_000_000
        assert page.dpi < 300
        assert page.view.source_region.as_list() == [0, 0, 2000, 2000]


def test_page_limit_and_out_of_range():
    doc = pymupdf.open()
    for _ in range(3):
        doc.new_page()
    data = doc.tobytes()
    with pytest.raises(MediaError) as err:
        PdfDocument.open(data, limits=MediaLimits(max_pages=2))
    assert err.value.code is ErrorCode.TOO_LARGE
    with PdfDocument.open(data) as pdf, pytest.raises(MediaError) as err:
        pdf.page(3)
    assert err.value.code is ErrorCode.OUT_OF_RANGE


def test_not_a_pdf_and_byte_limit(tmp_path):
    fake = tmp_path / "x.pdf"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    with pytest.raises(MediaError) as err:
        PdfDocument.open(fake)
    assert err.value.code is ErrorCode.UNSUPPORTED_TYPE
    with pytest.raises(MediaError) as err:
        PdfDocument.open(b"%PDF-1.7\n" + b" " * 2000, limits=MediaLimits(max_bytes=1000))
    assert err.value.code is ErrorCode.TOO_LARGE


def test_lines_and_blocks_group_words(corpus_dir):
    with PdfDocument.open(corpus_dir / REAL / "pdflatex-4-pages.pdf") as doc:
        layer = doc.page(0).text_layer
        assert len(layer.blocks) < len(layer.lines) < len(layer.words)
        assert sum(len(line.text.split()) for line in layer.lines) == len(layer.words)
        for line in layer.lines[:20]:
            assert all(w >= 0 for w in line.box.as_list())


@pytest.mark.parametrize("rotation", [0, 90])
def test_render_view_draws_a_zoom_crop_from_vectors(rotation):
    """A view of a small region, rasterised at 8x, shows the word where the text layer says it is."""
    from vlm_engine.grounding import View

    doc = pymupdf.open()
    page = doc.new_page(width=400, height=600)
    page.insert_text((120, 200), "ZOOM", fontsize=10)
    page.set_rotation(rotation)
    with PdfDocument.open(doc.tobytes()) as pdf:
        page = pdf.page(0)
        [word] = page.text_layer.words
        region = word.box.expanded(ratio=0.5)
        view = View.of_region(region, round(region.width * 8), round(region.height * 8))
        pixels = page.render_view(view)
        assert pixels.shape == (view.height, view.width, 3)
        ink = view.box_to_source(_ink_box(pixels))
        assert word.box.intersection(ink).area / ink.area > 0.95


def test_thumbnail_redrawn_or_reduced_shows_the_same_page(corpus_dir):
    """A text page redraws its thumbnail from vectors (cheap); a page that is one large scan reduces its
    canvas instead. Either way the thumbnail is the page: the redrawn and the reduced one agree."""
    from vlm_engine.vision.tiling import TilingConfig, cut_views, plan_tiles

    with PdfDocument.open(corpus_dir / REAL / "cmyk-image.pdf") as doc:
        assert not doc.page(0).redraws_cheaply  # a 756x1008 scan: decoding it again costs more
    with PdfDocument.open(corpus_dir / REAL / "pdflatex-4-pages.pdf") as doc:
        page = doc.page(0)
        assert page.redraws_cheaply
        plan = plan_tiles(page.width, page.height, TilingConfig(), pixel_area=page.width * page.height * 4)
        canvas = page.render(size=plan.canvas_size)
        views = [t.view for t in plan.tiles]
        redrawn = cut_views(canvas.pixels, canvas.view, views, render=page.render_view, redraw=True)
        reduced = cut_views(canvas.pixels, canvas.view, views, render=page.render_view, redraw=False)
        assert all(a is b or np.shares_memory(a, b) for a, b in zip(redrawn[:-1], reduced[:-1], strict=True))
        assert redrawn[-1].shape == reduced[-1].shape == (448, 448, 3)
        # glyphs rasterised at 448 px differ from box-filtered ones pixel by pixel; 4x4 blocks agree
        blocks_drawn, blocks_reduced = (
            t.reshape(112, 4, 112, 4, 3).mean(axis=(1, 3)) for t in redrawn[-1:] + reduced[-1:]
        )
        assert np.abs(blocks_drawn - blocks_reduced).mean() < 1.5
        ink_drawn, ink_reduced = redrawn[-1].min(axis=2) < 128, reduced[-1].min(axis=2) < 128
        assert (ink_drawn & ink_reduced).sum() > 0.6 * max(ink_drawn.sum(), ink_reduced.sum())
