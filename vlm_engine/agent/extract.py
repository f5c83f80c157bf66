"""Extract: a JSON schema of fields in, a value and its evidence (page + box in source units) per field out.

Design choices:
- Each field gets a finder by what its name and description say it is (`field_kind`): a date, a money
  total, the issuer's name, its address; anything else is read as key -> value by the text baseline (the
  words after the best-matching key, or the line beside it). Finders read the text layer or OCR words, so
  extraction runs offline on CPU with no model.
- With a VLM backend, each field is also asked of the backend (`ask`); its answer replaces the rule's only
  when those words are printed in the document (found as a phrase among the read lines) and, for a date or
  a total, read as one; the evidence is then the box of those printed words. A backend can so correct a
  rule but never put words in the document's mouth. Disagreements are recorded in the trace.
- Every value is conformed to its field's type and limits (`guard.conform`) before it leaves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from vlm_engine import text_baseline
from vlm_engine.agent import finders
from vlm_engine.agent.guard import FieldSpec, clean_text, conform
from vlm_engine.agent.look import Look
from vlm_engine.agent.trace import Trace
from vlm_engine.answer import Evidence
from vlm_engine.grounding import Box, union_all
from vlm_engine.reading import TextLine

DATE, TOTAL, COMPANY, ADDRESS, KEY_VALUE = "date", "total", "company", "address", "key_value"
_KIND_WORDS = {
    DATE: {"date", "day", "dated", "issued", "when"},
    TOTAL: {"total", "amount", "sum", "due", "grand", "balance", "payable", "price", "cost"},
    COMPANY: {"company", "vendor", "merchant", "seller", "store", "shop", "supplier", "business", "issuer",
              "payee", "organisation", "organization", "firm", "restaurant", "brand"},
    ADDRESS: {"address", "addr", "location", "street"},
}  # fmt: skip

Ask = Callable[[str], Look]


def field_kind(spec: FieldSpec) -> str:
    """Which finder reads this field, from the words of its name (first) and its description."""
    for text in (spec.name.replace("_", " "), spec.description):
        words = set(re.findall(r"[a-z]+", text.lower())) | set(text_baseline.tokens(text))
        for kind, cues in _KIND_WORDS.items():
            if words & cues:
                return kind
    return KEY_VALUE


def extract_fields(
    lines: Sequence[TextLine], fields: Sequence[FieldSpec], trace: Trace, ask: Ask | None = None
) -> tuple[dict[str, Any], list[Evidence]]:
    values: dict[str, Any] = {}
    evidence: list[Evidence] = []
    company: finders.Found | None = None
    for spec in fields:
        kind = field_kind(spec)
        with trace.step("find_field", field=spec.name, kind=kind) as step:
            found: tuple[str, Evidence] | None
            if kind == KEY_VALUE:
                found = _key_value(lines, spec)
            else:
                hit = _find(kind, lines, company)
                if kind == COMPANY:
                    company = hit
                found = None if hit is None else (hit.value, _evidence(lines, hit, spec.name))
            step.outputs["rule"] = found[0] if found else None
            if ask is not None:
                found = _confirm(lines, spec, found, ask, step)
            value = conform(found[0], spec) if found else None
            step.outputs["value"] = value
            values[spec.name] = value
            if value is not None and found is not None:
                evidence.append(found[1])
    return values, evidence


def _find(kind: str, lines: Sequence[TextLine], company: finders.Found | None) -> finders.Found | None:
    if kind == DATE:
        return finders.find_date(lines)
    if kind == TOTAL:
        return finders.find_total(lines)
    if kind == COMPANY:
        return finders.find_company(lines)
    return finders.find_address(lines, after=company or finders.find_company(lines))


def _key_value(lines: Sequence[TextLine], spec: FieldSpec) -> tuple[str, Evidence] | None:
    answer = text_baseline.answer_extract(
        lines, {"properties": {spec.name: {"description": spec.description}}}
    )
    value = answer.fields.get(spec.name)
    if not value or not answer.evidence:
        return None
    return value, answer.evidence[0]


def _confirm(lines, spec: FieldSpec, found, ask: Ask, step) -> tuple[str, Evidence] | None:
    question = f"What is the {spec.name.replace('_', ' ')}" + (
        f" ({spec.description})" if spec.description else ""
    )
    look = ask(question + "? Reply with the value exactly as printed.")
    step.tokens += look.visual_tokens + look.prompt_tokens + look.completion_tokens
    step.outputs["backend"] = look.text
    if not look.text or (found and clean_text(found[0], 500).casefold() == look.text.casefold()):
        return found
    shape = {DATE: finders.is_date, TOTAL: finders.is_amount}.get(field_kind(spec))
    if shape is not None and not shape(look.text):
        step.outputs["backend_rejected"] = f"not a {field_kind(spec)}"
        return found
    hits = text_baseline.find_phrase(lines, look.text)
    if not hits:
        step.outputs["backend_rejected"] = "not printed in the document"
        return found
    index, words = hits[0]
    line = lines[index]
    box = union_all(list(line.word_boxes[words.start : words.stop]))
    quoted = " ".join(line.words[words.start : words.stop])
    return quoted, line_evidence(line, box, spec.name, quoted)


def _evidence(lines: Sequence[TextLine], found: finders.Found, label: str) -> Evidence:
    return line_evidence(lines[found.lines[0]], found.box(lines), label, found.quoted(lines))


def line_evidence(line: TextLine, box: Box, label: str, text: str) -> Evidence:
    return Evidence.from_box(
        box,
        *line.source_size,
        page=line.page,
        time_s=line.time_s,
        frame_index=line.frame_index,
        label=label,
        text=clean_text(text, 500),
    )
