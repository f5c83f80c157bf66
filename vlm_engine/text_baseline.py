"""The text-retrieval baseline: answers read straight off the text layer and OCR, no VLM.

Design choices:
- It is the engine behind `run_task` until the project's model and agent land, and it stays afterwards as
  the baseline they are measured against. Its answers are labelled with `MODEL_NAME` everywhere they go.
- Every answer is a line (or the words) of the document, so every answer is grounded by construction:
  the evidence is the box of the words it quotes.
- Retrieval is BM25 over lines (document frequency counted per line); phrases for grounding and counting
  are matched as consecutive normalised words. No rules are tuned to any corpus.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from vlm_engine.answer import Answer, Evidence
from vlm_engine.grounding import union_all
from vlm_engine.reading import TextLine

MODEL_NAME = "sightline-baseline-text (text layer + OCR retrieval, no VLM)"

_TOKEN = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "does",
        "did",
        "do",
        "for",
        "from",
        "how",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "the",
        "this",
        "that",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "with",
        "find",
        "show",
        "me",
        "give",
        "list",
        "please",
        "tell",
        "there",
        "many",
        "much",
    ]
)
_BM25_K1, _BM25_B = 1.2, 0.75


def tokens(text: str) -> list[str]:
    """Lower-cased words and numbers, with plain English inflections folded ("peaked" -> "peak")."""
    return [_fold(t) for t in _TOKEN.findall(text.lower())]


def _fold(token: str) -> str:
    if not token.isalpha() or len(token) <= 4:
        return token
    for suffix in ("ing", "ed", "es", "s"):
        if token.endswith(suffix) and len(token) - len(suffix) >= 3:
            return token[: -len(suffix)]
    return token


def query_terms(question: str) -> list[str]:
    return [t for t in tokens(question) if t not in _STOPWORDS]


def rank_lines(lines: Sequence[TextLine], query: Sequence[str]) -> list[tuple[float, int]]:
    """(BM25 score, line index) for every line with a positive score, best first."""
    return bm25_rank([tokens(line.text) for line in lines], query)


def bm25_rank(docs: Sequence[Sequence[str]], query: Sequence[str]) -> list[tuple[float, int]]:
    """(BM25 score, document index) for every tokenised document with a positive score, best first.

    Documents are lines here and whole pages in the agent's page routing.
    """
    if not docs or not query:
        return []
    avg_len = sum(len(d) for d in docs) / len(docs) or 1.0
    df = Counter(t for d in docs for t in set(d))
    n = len(docs)
    scored = []
    for index, doc in enumerate(docs):
        counts = Counter(doc)
        score = 0.0
        for term in set(query):
            tf = counts.get(term, 0)
            if tf == 0:
                continue
            idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            score += (
                idf * tf * (_BM25_K1 + 1) / (tf + _BM25_K1 * (1 - _BM25_B + _BM25_B * len(doc) / avg_len))
            )
        if score > 0:
            scored.append((score, index))
    return sorted(scored, key=lambda s: (-s[0], s[1]))


def _evidence(line: TextLine, word_range: range | None = None, label: str = "", score: float | None = None):
    boxes = line.word_boxes if word_range is None else line.word_boxes[word_range.start : word_range.stop]
    words = line.words if word_range is None else line.words[word_range.start : word_range.stop]
    box = union_all(boxes) if boxes else line.box
    return Evidence.from_box(
        box,
        *line.source_size,
        page=line.page,
        time_s=line.time_s,
        frame_index=line.frame_index,
        label=label,
        text=" ".join(words),
        score=score,
    )


def find_phrase(lines: Sequence[TextLine], phrase: str) -> list[tuple[int, range]]:
    """Every place the phrase's words occur consecutively: (line index, range of word positions)."""
    target = query_terms(phrase) or tokens(phrase)
    if not target:
        return []
    hits = []
    for index, line in enumerate(lines):
        # map each normalised token back to the word it came from
        flat: list[tuple[str, int]] = [(t, w) for w, word in enumerate(line.words) for t in tokens(word)]
        for start in range(len(flat) - len(target) + 1):
            if [t for t, _ in flat[start : start + len(target)]] == target:
                first, last = flat[start][1], flat[start + len(target) - 1][1]
                hits.append((index, range(first, last + 1)))
    return hits


def answer_qa(lines: Sequence[TextLine], question: str) -> Answer:
    ranked = rank_lines(lines, query_terms(question))
    if not ranked:
        return Answer("", model=MODEL_NAME)
    top_score = ranked[0][0]
    best = lines[ranked[0][1]]
    evidence = [_evidence(best, score=1.0)]
    return Answer(
        best.text, evidence=evidence, fields={"retrieval_score": round(top_score, 3)}, model=MODEL_NAME
    )


def answer_ground(lines: Sequence[TextLine], phrase: str) -> Answer:
    hits = find_phrase(lines, phrase)
    evidence = [_evidence(lines[i], r, label=phrase) for i, r in hits]
    text = f"found {len(hits)}" if hits else "not found"
    return Answer(text, evidence=evidence, model=MODEL_NAME)


def answer_count(lines: Sequence[TextLine], phrase: str) -> Answer:
    hits = find_phrase(lines, phrase)
    evidence = [_evidence(lines[i], r, label=phrase) for i, r in hits]
    return Answer(str(len(hits)), evidence=evidence, fields={"count": len(hits)}, model=MODEL_NAME)


def answer_extract(lines: Sequence[TextLine], schema: dict) -> Answer:
    """One value per schema property: the words after the best-matching key, or, when the key stands
    alone, the line beside it on the same row (else the line just below it): forms and receipts put
    values in a column of their own."""
    properties = (schema or {}).get("properties", {})
    fields: dict[str, str | None] = {}
    evidence = []
    for name, spec in properties.items():
        key = name.replace("_", " ") + " " + str((spec or {}).get("description", ""))
        key_terms = set(query_terms(key))
        ranked = rank_lines(lines, list(key_terms))
        if not ranked:
            fields[name] = None
            continue
        index = ranked[0][1]
        line = lines[index]
        value_at = [i for i, w in enumerate(line.words) if any(t not in key_terms for t in tokens(w))]
        if value_at:
            span = range(value_at[0], len(line.words))
        else:
            neighbour = value_beside(lines, index)
            if neighbour is not None:
                line = lines[neighbour]
            span = range(len(line.words))
        fields[name] = " ".join(line.words[span.start : span.stop]).strip(" :")
        evidence.append(_evidence(line, span, label=name))
    text = "; ".join(f"{k}: {v}" for k, v in fields.items() if v)
    return Answer(text, evidence=evidence, fields=fields, model=MODEL_NAME)


def value_beside(lines: Sequence[TextLine], key_index: int) -> int | None:
    """The line that holds the value of a key standing alone: the nearest line to its right on the same
    row (vertical overlap at least half the smaller height), else the nearest line below that overlaps it
    horizontally. Only lines on the same page or frame count."""
    key = lines[key_index]
    right, below = [], []
    for i, other in enumerate(lines):
        if i == key_index or (other.page, other.frame_index) != (key.page, key.frame_index):
            continue
        overlap_y = min(key.box.y1, other.box.y1) - max(key.box.y0, other.box.y0)
        if overlap_y >= 0.5 * min(key.box.height, other.box.height) and other.box.x0 >= key.box.x1 - 1e-6:
            right.append((other.box.x0 - key.box.x1, i))
        overlap_x = min(key.box.x1, other.box.x1) - max(key.box.x0, other.box.x0)
        if overlap_x > 0 and other.box.y0 >= key.box.y1 - 0.25 * key.box.height:
            below.append((other.box.y0 - key.box.y1, i))
    if right:
        return min(right)[1]
    return min(below)[1] if below else None


def answer_describe(lines: Sequence[TextLine], max_lines: int = 3) -> Answer:
    head = list(lines[:max_lines])
    evidence = [_evidence(line) for line in head]
    return Answer(" / ".join(line.text for line in head), evidence=evidence, model=MODEL_NAME)
