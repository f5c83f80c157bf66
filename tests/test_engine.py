"""run_task end to end on generated and real documents: grounded answers, progress, cancel, bad input."""

from __future__ import annotations

import json

import numpy as np
import pymupdf
import pytest
from PIL import Image

from tests.agent.conftest import red_seer
from tests.backends.openai_test_server import OpenAITestServer
from vlm_engine import text_baseline
from vlm_engine.backends.openai_backend import OpenAIBackend
from vlm_engine.engine import Cancelled, TaskOptions, TaskRequest, run_task
from vlm_engine.errors import ErrorCode, MediaError
from vlm_engine.grounding import Box


@pytest.fixture(scope="module")
def invoice_pdf(tmp_path_factory) -> str:
    """Three pages; page 1 holds an invoice with known words at known places; page 2 is rotated."""
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 100), "Cover page of the quarterly report", fontsize=14)
    page = doc.new_page()
    page.insert_text((72, 100), "Invoice number: INV-2024-0042", fontsize=12)
    page.insert_text((72, 130), "Total due: 1,234.56 EUR", fontsize=12)
    for i, y in enumerate((200, 230, 260)):
        page.insert_text((72, y), f"apple crate {i}", fontsize=12)
    rotated = doc.new_page()
    rotated.insert_text((72, 100), "apple appendix", fontsize=12)
    rotated.set_rotation(90)
    path = tmp_path_factory.mktemp("docs") / "invoice.pdf"
    doc.save(path)
    return str(path)


def test_qa_answers_with_the_line_it_read(invoice_pdf):
    answer = run_task(TaskRequest("qa", invoice_pdf, "What is the total due?"))
    assert "1,234.56" in answer.text
    [ev] = answer.evidence
    assert ev.page == 1
    assert Box(*ev.bbox).iou(Box(72, 118, 220, 134)) > 0.5  # the "Total due" line, in page points
    assert all(0 <= v <= 1 for v in ev.bbox_norm)
    tools = [s.tool for s in answer.trace]
    assert answer.usage.pages_viewed == 3 and tools == ["route", *["view_page"] * 3, "answer_qa"]
    assert answer.model.startswith("sightline-agent")
    json.dumps(answer.to_dict())  # storable as is


def test_the_text_baseline_stays_selectable(invoice_pdf):
    answer = run_task(
        TaskRequest("qa", invoice_pdf, "What is the total due?", options=TaskOptions(engine="baseline"))
    )
    assert "1,234.56" in answer.text and answer.model == text_baseline.MODEL_NAME
    assert [s.tool for s in answer.trace] == ["read", "answer_qa"]
    with pytest.raises(ValueError, match="unknown engine"):
        run_task(TaskRequest("qa", invoice_pdf, "total", options=TaskOptions(engine="magic")))


def test_count_and_ground_give_one_box_per_instance(invoice_pdf):
    answer = run_task(TaskRequest("count", invoice_pdf, "apple"))
    assert answer.text == "4" and len(answer.evidence) == 4
    on_rotated = [e for e in answer.evidence if e.page == 2]
    assert len(on_rotated) == 1
    # page 2 is displayed 792 wide and 612 tall; the word sits near its top-right after the quarter turn
    assert on_rotated[0].bbox[0] > 600 and on_rotated[0].bbox[1] < 150
    grounded = run_task(TaskRequest("ground", invoice_pdf, "apple crate 1"))
    [ev] = grounded.evidence
    assert ev.text == "apple crate 1" and ev.page == 1


def test_extract_fields_with_evidence(invoice_pdf):
    schema = {"properties": {"invoice_number": {"type": "string"}, "total": {"description": "total due"}}}
    answer = run_task(TaskRequest("extract", invoice_pdf, schema=schema))
    assert answer.fields["invoice_number"] == "INV-2024-0042"
    assert answer.fields["total"].startswith("1,234.56")
    assert {e.label for e in answer.evidence} == {"invoice_number", "total"}


def test_page_range_progress_and_cancel(invoice_pdf):
    seen = []
    answer = run_task(
        TaskRequest("describe", invoice_pdf, options=TaskOptions(pages=(1, 1))),
        progress=lambda d, t: seen.append((d, t)),
    )
    assert seen[-1] == (1, 1) and all(e.page == 1 for e in answer.evidence)
    with pytest.raises(Cancelled):
        run_task(TaskRequest("qa", invoice_pdf, "total"), cancelled=lambda: True)
    with pytest.raises(MediaError) as err:
        run_task(TaskRequest("qa", invoice_pdf, "total", options=TaskOptions(pages=(2, 9))))
    assert err.value.code is ErrorCode.OUT_OF_RANGE


def test_bad_files_are_typed_errors(corpus_dir):
    with pytest.raises(MediaError) as err:
        run_task(TaskRequest("qa", str(corpus_dir / "pdf/malformed/bad1.pdf"), "x"))
    assert err.value.code is ErrorCode.UNSUPPORTED_TYPE
    with pytest.raises(MediaError) as err:
        run_task(TaskRequest("qa", str(corpus_dir / "pdf/real/libreoffice-writer-password.pdf"), "x"))
    assert err.value.code is ErrorCode.ENCRYPTED


def test_scanned_receipt_is_read_by_ocr(corpus_dir):
    truth = json.loads((corpus_dir / "receipts/key/000.json").read_text())
    answer = run_task(
        TaskRequest("extract", str(corpus_dir / "receipts/img/000.jpg"), schema={"properties": {"total": {}}})
    )
    assert answer.fields["total"] == truth["total"]
    [ev] = answer.evidence
    assert ev.page is None and ev.bbox[2] > ev.bbox[0]


def red_square_png(tmp_path) -> str:
    """A 160 x 100 picture with a red square at (30, 20, 60, 50)."""
    pixels = np.full((100, 160, 3), 30, np.uint8)
    pixels[20:50, 30:60] = (235, 20, 20)
    path = tmp_path / "red.png"
    Image.fromarray(pixels).save(path)
    return str(path)


def test_a_backend_passed_in_answers_picture_questions(tmp_path):
    path = red_square_png(tmp_path)
    with OpenAITestServer(reply=red_seer()) as server:
        backend = OpenAIBackend("scripted", server.base_url, max_retries=0)
        answer = run_task(TaskRequest("qa", path, "Is there a red square in the image?"), backend=backend)
        seen = []
        counted = run_task(
            TaskRequest("count", path, "red squares"),
            backend=backend,
            progress=lambda d, t: seen.append((d, t)),
        )
    assert answer.text == "yes" and answer.model == "sightline-agent + scripted"
    assert Box(*answer.evidence[0].bbox).iou(Box(30, 20, 60, 50)) > 0.9
    assert counted.text == "1" and seen == [(0, 1), (1, 1)]


def test_views_can_be_turned_off(tmp_path):
    path = red_square_png(tmp_path)
    with OpenAITestServer(reply=red_seer()) as server:
        backend = OpenAIBackend("scripted", server.base_url, max_retries=0)
        fused = run_task(TaskRequest("ground", path, "red square"), backend=backend)
        calls = len(server.requests)
        one = run_task(
            TaskRequest("ground", path, "red square", options=TaskOptions(views=False)), backend=backend
        )
        one_calls = len(server.requests) - calls
    [fused_step] = [s for s in fused.trace if s.tool == "ground"]
    [one_step] = [s for s in one.trace if s.tool == "ground"]
    assert fused_step.outputs["views"] == 10 and "views" not in one_step.outputs
    assert one_calls < calls - 8  # the ground step alone asked nine more times with views on
    for answer in (fused, one):
        assert Box(*answer.evidence[0].bbox).iou(Box(30, 20, 60, 50)) > 0.9
