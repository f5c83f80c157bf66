"""Routing: a long PDF is answered from a handful of pages, including an image-only page read by OCR."""

from __future__ import annotations

import io

import pymupdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from vlm_engine.agent import AgentOptions, run_agent

FILLER = "The committee reviewed the budget of each project and approved the plan for the quarter."
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


@pytest.fixture(scope="module")
def report_pdf(tmp_path_factory) -> str:
    """40 text pages, each naming its own project and budget, and page 31 an image of printed text."""
    doc = pymupdf.open()
    for index in range(40):
        page = doc.new_page()
        if index == 31:
            picture = Image.new("RGB", (1200, 300), "white")
            ImageDraw.Draw(picture).text(
                (40, 100), "Warehouse access code ZEBRA 4471", fill="black", font=ImageFont.truetype(FONT, 56)
            )
            png = io.BytesIO()
            picture.save(png, "PNG")
            page.insert_image(pymupdf.Rect(72, 100, 540, 217), stream=png.getvalue())
            continue
        page.insert_text((72, 80), FILLER, fontsize=10)
        page.insert_text(
            (72, 110), f"Project P{index:03d} was approved with a budget of {index * 1000 + 17} euros."
        )
    path = tmp_path_factory.mktemp("route") / "report.pdf"
    doc.save(path)
    return str(path)


def test_the_answer_page_is_among_the_few_viewed(report_pdf):
    question = "What budget was approved for project P027?"
    answer = run_agent("qa", report_pdf, question=question, options=AgentOptions(pages=(0, 30)))
    assert "27017" in answer.text and answer.evidence[0].page == 27
    assert answer.usage.pages_viewed == 5
    [route] = [s for s in answer.trace if s.tool == "route"]
    assert route.outputs["chosen"][0] == 27 and route.inputs["pages"] == 31
    assert sum(1 for s in answer.trace if s.tool == "view_page") == 5


def test_an_image_only_page_is_routed_by_its_ocr_text(report_pdf):
    answer = run_agent(
        "qa", report_pdf, question="What is the warehouse access code?", options=AgentOptions(page_budget=2)
    )
    assert "ZEBRA" in answer.text.upper() and answer.evidence[0].page == 31
    [route] = [s for s in answer.trace if s.tool == "route"]
    assert route.outputs["ocr_pages"] == 1  # the image-only page was OCR'd to be scored
    assert answer.usage.pages_viewed == 2


def test_routing_respects_a_page_range(report_pdf):
    answer = run_agent(
        "qa", report_pdf, question="budget of project P027", options=AgentOptions(pages=(0, 9), page_budget=3)
    )
    assert all(e.page is not None and e.page <= 9 for e in answer.evidence)
    assert "27017" not in answer.text
