"""Extraction: schema fields -> values with evidence boxes on the page, offline, no model."""

from __future__ import annotations

import json

import pytest

from tests.agent.conftest import INVOICE_LINES, text_box, write_pdf
from vlm_engine.agent import run_agent
from vlm_engine.grounding import Box

RECEIPT_FIELDS = {
    "company": {"type": "string"},
    "date": {"type": "string"},
    "address": {"type": "string"},
    "total": {"type": "string"},
    "invoice_number": {"type": "string", "description": "invoice no"},
}


def _box(rect) -> Box:
    return Box(rect.x0, rect.y0, rect.x1, rect.y1)


def test_invoice_fields_and_their_boxes(invoice_pdf):
    answer = run_agent("extract", invoice_pdf, schema={"properties": RECEIPT_FIELDS})
    assert answer.fields == {
        "company": "ACME WIDGETS LTD",
        "date": "03 Mar 2021",
        "address": "12 Harbour Road, Springfield 40400",
        "total": "10.60",
        "invoice_number": "8841",
    }
    boxes = {e.label: Box(*e.bbox) for e in answer.evidence}
    assert all(e.page == 0 for e in answer.evidence)
    for name, printed in [("company", "ACME WIDGETS LTD"), ("date", "03 Mar 2021"), ("total", "10.60")]:
        assert boxes[name].iou(_box(text_box(invoice_pdf, 0, printed))) > 0.7, name
    json.dumps(answer.to_dict())
    assert [s.tool for s in answer.trace].count("find_field") == len(RECEIPT_FIELDS)


def test_typed_fields_are_converted(invoice_pdf):
    schema = {"properties": {"total": {"type": "number"}, "invoice_number": {"type": "integer"}}}
    answer = run_agent("extract", invoice_pdf, schema=schema)
    assert answer.fields == {"total": 10.6, "invoice_number": 8841}


@pytest.mark.parametrize("printed", ["2021-03-03", "03/03/2021", "3.3.21", "March 3, 2021", "03-Mar-21"])
def test_dates_in_many_formats(tmp_path, printed):
    lines = [(72, 80, 14, "Corner Shop"), (72, 120, 11, "Receipt 77 of the day"), (72, 140, 11, printed)]
    pdf = write_pdf(tmp_path / "d.pdf", [lines])
    answer = run_agent("extract", pdf, schema={"properties": {"date": {}}})
    assert answer.fields["date"] == printed


def test_total_prefers_the_keyword_row_over_bigger_cash(tmp_path):
    pdf = write_pdf(tmp_path / "t.pdf", [INVOICE_LINES])
    answer = run_agent("extract", pdf, schema={"properties": {"amount_due": {"description": "total"}}})
    assert answer.fields["amount_due"] == "10.60"  # not the cash tendered (20.00) nor the subtotal


def test_a_missing_field_is_none_without_evidence(tmp_path):
    pdf = write_pdf(tmp_path / "n.pdf", [[(72, 80, 12, "Meeting notes without any figures")]])
    answer = run_agent("extract", pdf, schema={"properties": {"total": {}, "date": {}}})
    assert answer.fields == {"total": None, "date": None} and answer.evidence == []


def test_a_name_on_two_lines_and_an_address_ending_at_a_phone(tmp_path):
    lines = [
        (72, 60, 10, "Welcome"),
        (72, 84, 16, "RIVERSIDE HARDWARE &"),
        (72, 104, 16, "ELECTRICAL SUPPLIES"),
        (72, 122, 9, "(123456-K)"),
        (72, 136, 9, "NO. 7, MILL STREET,"),
        (72, 148, 9, "88000 EASTON"),
        (72, 160, 9, "03-55501234"),
        (72, 190, 10, "Cashier: Ann"),
    ]
    pdf = write_pdf(tmp_path / "r.pdf", [lines])
    answer = run_agent("extract", pdf, schema={"properties": {"company": {}, "address": {}}})
    assert answer.fields == {
        "company": "RIVERSIDE HARDWARE & ELECTRICAL SUPPLIES",
        "address": "NO. 7, MILL STREET, 88000 EASTON",
    }
    boxes = {e.label: Box(*e.bbox) for e in answer.evidence}
    assert boxes["company"].y1 > 100 and boxes["address"].y1 < 155  # both name lines, no phone line


def test_the_total_after_cash_rounding(tmp_path):
    lines = [
        (72, 60, 14, "Corner Shop"),
        (72, 100, 11, "Total incl. tax"),
        (300, 100, 11, "60.31"),
        (72, 116, 11, "Rounding adjustment"),
        (300, 116, 11, "-0.01"),
        (300, 132, 11, "60.30"),
        (72, 148, 11, "Cash"),
        (300, 148, 11, "70.30"),
    ]
    pdf = write_pdf(tmp_path / "c.pdf", [lines])
    answer = run_agent("extract", pdf, schema={"properties": {"total": {}}})
    assert answer.fields["total"] == "60.30"


def test_a_date_with_a_time_glued_on_by_ocr(tmp_path):
    pdf = write_pdf(
        tmp_path / "g.pdf", [[(72, 80, 14, "Corner Shop"), (72, 120, 11, "05 Mar201818:24 POS 3")]]
    )
    answer = run_agent("extract", pdf, schema={"properties": {"date": {}}})
    assert answer.fields["date"] == "05 Mar2018"
