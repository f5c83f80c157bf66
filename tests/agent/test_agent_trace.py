"""The trace: every step timed and recorded, outputs summarised to a bounded size, failures included."""

from __future__ import annotations

import json

import pytest

from vlm_engine.agent import run_agent
from vlm_engine.agent.trace import MAX_ITEMS, MAX_TEXT, Trace


def test_steps_are_timed_and_summarised():
    trace = Trace()
    with trace.step("read", path="x" * 1000, pages=list(range(100))) as step:
        step.outputs["lines"] = [f"line {i}" for i in range(3)]
        step.tokens = 12
    [record] = trace.steps
    assert record.tool == "read" and record.tokens == 12 and record.ms >= 0
    assert len(record.inputs["path"]) < MAX_TEXT + 30
    assert record.inputs["pages"] == {"count": 100, "first": list(range(MAX_ITEMS))}
    assert record.outputs["lines"] == ["line 0", "line 1", "line 2"] and trace.tokens == 12


def test_a_failing_step_is_recorded_with_its_error():
    trace = Trace()
    with pytest.raises(KeyError), trace.step("look", page=3):
        raise KeyError("tile")
    [record] = trace.steps
    assert record.outputs == {"error": "KeyError: 'tile'"}


def test_the_answer_carries_the_trace_of_every_tool(invoice_pdf):
    answer = run_agent("extract", invoice_pdf, schema={"properties": {"date": {}, "total": {}}})
    assert [s.tool for s in answer.trace] == [
        "route",
        "view_page",
        "find_field",
        "find_field",
        "answer_extract",
    ]
    assert all(s.ms >= 0 for s in answer.trace) and answer.usage.latency_ms >= max(s.ms for s in answer.trace)
    json.dumps(answer.to_dict()["trace"])
