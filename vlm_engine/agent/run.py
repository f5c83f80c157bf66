"""The agent's loop: a task over a PDF or an image in, a grounded `Answer` with its trace out.

Design choices:
- The plan is fixed by the task, never by document text: check the input, route (PDF pages under the page
  budget), view the chosen pages (their words; and tiles shown to a VLM backend when one is given), then
  answer: qa from the backend's look (else the best line by the text baseline's BM25, with the value
  beside it when that line is a key standing alone), ground and count by phrase over the viewed words,
  extract through the field finders, describe from the first lines.
- Every tool call is a step of the trace returned with the answer; usage counts pages viewed, visual and
  text tokens and the wall time.
- Without a backend everything runs on CPU with no model (text layer, OCR for image-only pages and images).
- Video is not handled here yet (coarse-to-fine frame search is the next part); it raises
  `AgentError(unsupported_media)`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from sightline_common.sniff import MediaKind, sniff_file
from vlm_engine import text_baseline
from vlm_engine.agent.errors import AgentError, AgentErrorCode
from vlm_engine.agent.extract import extract_fields, line_evidence
from vlm_engine.agent.guard import MAX_ANSWER_CHARS, check_question, clean_text, parse_schema
from vlm_engine.agent.look import Look, image_tiles, look, page_tiles
from vlm_engine.agent.route import DEFAULT_PAGE_BUDGET, route_pages
from vlm_engine.agent.trace import Trace
from vlm_engine.answer import Answer, Usage
from vlm_engine.backends.base import Backend, ImageInput
from vlm_engine.errors import ErrorCode, MediaError
from vlm_engine.media import image as image_media
from vlm_engine.media.limits import DEFAULT_LIMITS, MediaLimits
from vlm_engine.media.pdf import PdfDocument
from vlm_engine.reading import TextLine, ocr_lines
from vlm_engine.vision.tiling import TilePlan, TilingConfig, plan_tiles

AGENT_TASKS = ("qa", "ground", "count", "extract", "describe")
MODEL_NAME = "sightline-agent (routing + text layer/OCR field finders, no VLM)"


@dataclass(frozen=True)
class AgentOptions:
    page_budget: int = DEFAULT_PAGE_BUDGET
    visual_token_budget: int | None = None  # per viewed page, when a backend looks
    pages: tuple[int, int] | None = None  # inclusive 0-based range to route over
    password: str | None = None


@dataclass
class _Viewed:
    """The pages (or the one image) chosen for viewing: their words, and how to show them to a backend."""

    lines: list[TextLine]
    tiles: dict[int | None, tuple[TilePlan, list[ImageInput], tuple[float, float]]]
    pages_viewed: int
    visual_tokens: int = 0


def run_agent(
    task: str,
    path: str,
    *,
    question: str = "",
    schema: dict | None = None,
    options: AgentOptions = AgentOptions(),
    backend: Backend | None = None,
    limits: MediaLimits = DEFAULT_LIMITS,
) -> Answer:
    started = time.perf_counter()
    if task not in AGENT_TASKS:
        raise AgentError(AgentErrorCode.UNKNOWN_TASK, f"{task!r}; known: {', '.join(AGENT_TASKS)}")
    question = check_question(question, required=task in ("qa", "ground", "count"))
    fields = parse_schema(schema) if task == "extract" else []
    if options.page_budget < 1:
        raise AgentError(AgentErrorCode.BAD_BUDGET, "the page budget must be at least 1")
    tiling = _tiling_config(options.visual_token_budget)
    query = question or " ".join(f"{f.name.replace('_', ' ')} {f.description}" for f in fields)

    trace = Trace()
    viewed = _view(path, query, options, tiling, backend, limits, trace)
    lines = viewed.lines
    looks: list[Look] = []

    def ask(prompt: str) -> Look:
        for page, (plan, tiles, size) in viewed.tiles.items():
            page_words = [line for line in lines if line.page == page]
            with trace.step("look", page=page, question=prompt, tiles=len(tiles)) as step:
                seen = look(backend, prompt, plan, tiles, size, page=page, words=page_words)
                step.tokens = seen.visual_tokens + seen.prompt_tokens + seen.completion_tokens
                step.outputs.update(text=seen.text, boxes=len(seen.evidence))
            looks.append(seen)
            if seen.text:
                return seen
        return Look("", [], 0, 0, 0)

    answer = _answer(task, question, fields, lines, ask if backend is not None else None, trace)
    usage = Usage(
        visual_tokens=viewed.visual_tokens + sum(seen.visual_tokens for seen in looks),
        prompt_tokens=sum(seen.prompt_tokens for seen in looks),
        completion_tokens=sum(seen.completion_tokens for seen in looks),
        pages_viewed=viewed.pages_viewed,
        latency_ms=round((time.perf_counter() - started) * 1e3, 1),
    )
    model = MODEL_NAME if backend is None else f"sightline-agent + {backend.name}"
    return Answer(
        clean_text(answer.text, MAX_ANSWER_CHARS),
        evidence=answer.evidence,
        fields=answer.fields,
        usage=usage,
        trace=trace.steps,
        model=model,
    )


def _tiling_config(visual_token_budget: int | None) -> TilingConfig:
    config = TilingConfig(max_visual_tokens=visual_token_budget)
    try:
        plan_tiles(1.0, 1.0, config)
    except ValueError as exc:
        raise AgentError(AgentErrorCode.BAD_BUDGET, str(exc)) from None
    return config


def _view(path, query, options, tiling, backend, limits, trace) -> _Viewed:
    media = sniff_file(path)
    if media is None:
        raise MediaError(ErrorCode.UNSUPPORTED_TYPE, "the file's first bytes match no supported type")
    if media.kind is MediaKind.IMAGE:
        with trace.step("read_image") as step:
            pixels = np.asarray(image_media.load_image(path, limits).image)
            lines = ocr_lines(ImageInput.whole(pixels), page=None)
            step.outputs["lines"] = len(lines)
            tiles = {}
            if backend is not None:
                plan, inputs = image_tiles(pixels, tiling)
                tiles[None] = (plan, inputs, (float(pixels.shape[1]), float(pixels.shape[0])))
        return _Viewed(lines, tiles, pages_viewed=1)
    if media.kind is not MediaKind.PDF:
        raise AgentError(
            AgentErrorCode.UNSUPPORTED_MEDIA, f"{media.kind.value} is not handled by the agent yet"
        )
    with PdfDocument.open(path, password=options.password, limits=limits) as doc:
        first, last = options.pages if options.pages is not None else (0, doc.page_count - 1)
        if not (0 <= first <= last < doc.page_count):
            raise MediaError(
                ErrorCode.OUT_OF_RANGE, f"pages {first}-{last} are outside 0-{doc.page_count - 1}"
            )
        routed = route_pages(doc, query, range(first, last + 1), options.page_budget, trace, backend)
        lines, tiles = [], {}
        for index in routed.chosen:
            page = doc.page(index)
            with trace.step("view_page", page=index) as step:
                lines.extend(routed.lines.get(index, []))
                if backend is not None:
                    plan, inputs = page_tiles(page, tiling)
                    tiles[index] = (plan, inputs, (page.width, page.height))
                    step.outputs["tiles"] = len(inputs)
                step.outputs["lines"] = len(routed.lines.get(index, []))
    return _Viewed(lines, tiles, pages_viewed=len(routed.chosen), visual_tokens=routed.visual_tokens)


def _answer_from_lines(lines: list[TextLine], question: str) -> Answer:
    """The best line by BM25; a key standing alone there ("Total") is answered with the value beside it."""
    answer = text_baseline.answer_qa(lines, question)
    terms = set(text_baseline.query_terms(question))
    ranked = text_baseline.rank_lines(lines, list(terms))
    if not ranked or not set(text_baseline.tokens(lines[ranked[0][1]].text)) <= terms:
        return answer
    key_index = ranked[0][1]
    value_index = text_baseline.value_beside(lines, key_index)
    if value_index is None:
        return answer
    key, value = lines[key_index], lines[value_index]
    evidence = [
        line_evidence(value, value.box, question, value.text),
        line_evidence(key, key.box, "key", key.text),
    ]
    return Answer(f"{key.text} {value.text}", evidence=evidence, fields=answer.fields)


def _answer(task, question, fields, lines, ask, trace) -> Answer:
    with trace.step(f"answer_{task}", question=question, fields=[f.name for f in fields]) as step:
        if task == "extract":
            values, evidence = extract_fields(lines, fields, trace, ask)
            text = "; ".join(f"{k}: {v}" for k, v in values.items() if v is not None)
            answer = Answer(text, evidence=evidence, fields=values)
        elif task == "qa":
            seen = ask(question) if ask is not None else None
            if seen is not None and seen.text:
                answer = Answer(seen.text, evidence=seen.evidence)
            else:
                answer = _answer_from_lines(lines, question)
        elif task == "ground":
            answer = text_baseline.answer_ground(lines, question)
        elif task == "count":
            answer = text_baseline.answer_count(lines, question)
        else:
            answer = text_baseline.answer_describe(lines)
        step.outputs.update(text=answer.text, evidence=len(answer.evidence))
        return answer
