"""The agent's loop: a task over a PDF, an image or a video in, a grounded `Answer` with its trace out.

Design choices:
- The plan is fixed by the task, never by document text: check the input, route (PDF pages under the page
  budget), view the chosen pages (their words, with small or uncertain OCR lines re-read on a zoomed
  render; and tiles shown to a VLM backend when one is given), then answer: qa from the backend's look
  (else the best line by the text baseline's BM25, with the value beside it when that line is a key
  standing alone), ground and count by phrase over the viewed words, extract through the field finders,
  describe from the first lines.
- On an image with a backend, questions about what is in it are answered by the backend and checked:
  "Is there a X?" -> presence (a majority over several views of the image, `views`), every yes pointed
  at for its evidence (and verified on a crop of that box under `verify_presence`);
  "How many X?" and the count task -> the number asked for, checked by grounding (`count`: the number
  when some view's boxes agree with it, else the median of the views' box counts); ground -> the box
  asked for (fused over the views), asked again closer when it is small (`zoom.ask_closer`), then
  verified (a failing box is kept but flagged);
  "Is the X left of the Y?" -> X and Y grounded the same way, each on its own, and the verdict is
  geometry on their two boxes (`grounding.relation_gap`), not a token the model writes; any other
  question on an image that fits in one tile is asked as it is of the whole picture (a chart's value).
- A video needs a backend: coarse-to-fine frame search (`video`) answers with a (start, end) interval,
  timestamps and boxes.
- Every tool call is a step of the trace returned with the answer; usage counts pages or frames viewed,
  visual and text tokens and the wall time. `progress(done, total)` is called between pages or frames,
  and `cancelled()` checked there (raising `reading.Cancelled`).
- Without a backend everything but video runs on CPU with no model (text layer, OCR for image-only pages
  and images).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sightline_common.sniff import MediaKind, sniff_file
from vlm_engine import text_baseline
from vlm_engine.agent import zoom as zoom_tool
from vlm_engine.agent.count import ask_count, count_by_grounding
from vlm_engine.agent.errors import AgentError, AgentErrorCode
from vlm_engine.agent.extract import extract_fields, line_evidence
from vlm_engine.agent.guard import DATA_NOTICE, MAX_ANSWER_CHARS, check_question, clean_text, parse_schema
from vlm_engine.agent.look import Look, answer_text, image_tiles, look, page_tiles
from vlm_engine.agent.questions import (
    ask_where,
    count_target,
    ground_target,
    presence_target,
    relation_target,
)
from vlm_engine.agent.route import DEFAULT_PAGE_BUDGET, route_pages
from vlm_engine.agent.trace import Metered, Trace
from vlm_engine.agent.verify import DEFAULT_VERIFY, Claim, VerifyPolicy, presence, verify_claims
from vlm_engine.agent.video import DEFAULT_VIDEO_SEARCH, VideoSearchOptions, search_video
from vlm_engine.agent.views import DEFAULT_VIEWS, ViewsPolicy, fused_box
from vlm_engine.agent.zoom import DEFAULT_ZOOM, Draw, ZoomPolicy, image_draw
from vlm_engine.answer import Answer, Evidence, Usage
from vlm_engine.backends.base import Backend, GenerationConfig, ImageInput, Prompt
from vlm_engine.errors import ErrorCode, MediaError
from vlm_engine.grounding import Box, View, relation_gap
from vlm_engine.media import image as image_media
from vlm_engine.media.limits import DEFAULT_LIMITS, MediaLimits
from vlm_engine.media.pdf import PdfDocument
from vlm_engine.reading import OCR_DPI, Cancelled, Progress, TextLine
from vlm_engine.vision.tiling import TilePlan, TilingConfig, plan_tiles

AGENT_TASKS = ("qa", "ground", "count", "extract", "describe", "video_qa")
MODEL_NAME = "sightline-agent (routing + text layer/OCR field finders, no VLM)"
SMALL_BOX = 0.125  # a grounded box under this share of the image's shorter side is asked again closer
ONE_BOX = GenerationConfig(max_new_tokens=24)
PLAIN = GenerationConfig(max_new_tokens=128)  # room for a dozen boxes


@dataclass(frozen=True)
class AgentOptions:
    page_budget: int = DEFAULT_PAGE_BUDGET
    visual_token_budget: int | None = None  # per viewed page, when a backend looks
    pages: tuple[int, int] | None = None  # inclusive 0-based range to route over
    password: str | None = None
    zoom: ZoomPolicy | None = DEFAULT_ZOOM  # None: no zoomed re-reads or re-asks
    verify: VerifyPolicy | None = DEFAULT_VERIFY  # None: claims are not checked
    video: VideoSearchOptions = DEFAULT_VIDEO_SEARCH
    views: ViewsPolicy | None = DEFAULT_VIEWS  # None: an image is grounded and asked yes/no on one look
    verify_presence: bool = False  # a presence "yes" must also pass `verify` (costs half the recall here)


@dataclass
class _Viewed:
    """The pages (or the one image) chosen for viewing: their words, and how to show them to a backend."""

    lines: list[TextLine]
    tiles: dict[int | None, tuple[TilePlan, list[ImageInput], tuple[float, float]]]
    pages_viewed: int
    visual_tokens: int = 0
    image: ImageInput | None = None  # the whole picture, when the source is an image
    draw: Draw | None = None
    read_lines: Callable[[], list[TextLine]] | None = None  # an image's words, read only when needed


def run_agent(
    task: str,
    path: str,
    *,
    question: str = "",
    schema: dict | None = None,
    options: AgentOptions = AgentOptions(),
    backend: Backend | None = None,
    limits: MediaLimits = DEFAULT_LIMITS,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Answer:
    started = time.perf_counter()
    if task not in AGENT_TASKS:
        raise AgentError(AgentErrorCode.UNKNOWN_TASK, f"{task!r}; known: {', '.join(AGENT_TASKS)}")
    question = check_question(question, required=task in ("qa", "ground", "count", "video_qa"))
    fields = parse_schema(schema) if task == "extract" else []
    if options.page_budget < 1 or options.video.frame_budget < 1:
        raise AgentError(AgentErrorCode.BAD_BUDGET, "the page and frame budgets must be at least 1")
    tiling = _tiling_config(options.visual_token_budget)
    query = question or " ".join(f"{f.name.replace('_', ' ')} {f.description}" for f in fields)
    step = _checkpoint(progress, cancelled)

    trace = Trace()
    media = sniff_file(path)
    if media is None:
        raise MediaError(ErrorCode.UNSUPPORTED_TYPE, "the file's first bytes match no supported type")
    if media.kind is MediaKind.VIDEO:
        return _run_video(task, path, question, options, backend, limits, trace, step, started)
    viewed = _view(path, media.kind, query, options, tiling, backend, limits, trace, step)
    looks: list[Look] = []
    answer = None
    metered = None if backend is None else Metered(backend)
    if metered is not None and viewed.image is not None:
        answer = _answer_picture(task, question, viewed, metered, options, trace)
    if answer is None:
        lines = viewed.lines if viewed.read_lines is None else viewed.read_lines()

        def ask(prompt: str) -> Look:
            for page, (plan, tiles, size) in viewed.tiles.items():
                page_words = [line for line in lines if line.page == page]
                with trace.step("look", page=page, question=prompt, tiles=len(tiles)) as record:
                    seen = look(backend, prompt, plan, tiles, size, page=page, words=page_words)
                    record.tokens = seen.visual_tokens + seen.prompt_tokens + seen.completion_tokens
                    record.outputs.update(text=seen.text, boxes=len(seen.evidence))
                looks.append(seen)
                if seen.text:
                    return seen
            return Look("", [], 0, 0, 0)

        answer = _answer(task, question, fields, lines, ask if backend is not None else None, trace)
    # looks count their own tokens (with the plan's for a remote backend); picture answers are metered
    visual, prompt, completion = (
        (0, 0, 0)
        if metered is None
        else (metered.visual_tokens, metered.prompt_tokens, metered.completion_tokens)
    )
    usage = Usage(
        visual_tokens=viewed.visual_tokens + sum(seen.visual_tokens for seen in looks) + visual,
        prompt_tokens=sum(seen.prompt_tokens for seen in looks) + prompt,
        completion_tokens=sum(seen.completion_tokens for seen in looks) + completion,
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


def _checkpoint(
    progress: Progress | None, cancelled: Callable[[], bool] | None
) -> Callable[[int, int], None]:
    def step(done: int, total: int) -> None:
        if cancelled is not None and cancelled():
            raise Cancelled(f"cancelled after {done} of {total}")
        if progress is not None:
            progress(done, total)

    return step


def _view(path, kind, query, options, tiling, backend, limits, trace, step) -> _Viewed:
    if kind is MediaKind.IMAGE:
        step(0, 1)
        with trace.step("read_image") as record:
            pixels = np.asarray(image_media.load_image(path, limits).image)
            record.outputs["size"] = [pixels.shape[1], pixels.shape[0]]
        size = (float(pixels.shape[1]), float(pixels.shape[0]))
        draw = image_draw(pixels)
        whole = View(pixels.shape[1], pixels.shape[0])
        tiles = {}
        if backend is not None:
            plan, inputs = image_tiles(pixels, tiling)
            tiles[None] = (plan, inputs, size)
        step(1, 1)
        return _Viewed(
            [],
            tiles,
            pages_viewed=1,
            image=ImageInput(pixels, whole),
            draw=draw,
            # OCR reads an image at full resolution (up to its side limit): no zoom, no more pixels to get
            read_lines=lambda: zoom_tool.read_text(draw, size, whole, None, trace, policy=None),
        )
    if kind is not MediaKind.PDF:
        raise AgentError(AgentErrorCode.UNSUPPORTED_MEDIA, f"{kind.value} is not handled by the agent")
    with PdfDocument.open(path, password=options.password, limits=limits) as doc:
        first, last = options.pages if options.pages is not None else (0, doc.page_count - 1)
        if not (0 <= first <= last < doc.page_count):
            raise MediaError(
                ErrorCode.OUT_OF_RANGE, f"pages {first}-{last} are outside 0-{doc.page_count - 1}"
            )
        pages = range(first, last + 1)
        routed = route_pages(doc, query, pages, options.page_budget, trace, backend, step)
        lines, tiles = [], {}
        for index in routed.chosen:
            page = doc.page(index)
            page_lines = routed.lines.get(index, [])
            if options.zoom is not None and page.info().image_only:
                seen = page.view_at(OCR_DPI)  # the view routing's OCR read
                size = (page.width, page.height)
                page_lines = zoom_tool.sharpen(
                    page_lines,
                    page.render_view,
                    size,
                    seen,
                    index,
                    trace,
                    options.zoom,
                    page.render_view(seen),
                )
            with trace.step("view_page", page=index) as record:
                lines.extend(page_lines)
                if backend is not None:
                    plan, inputs = page_tiles(page, tiling)
                    tiles[index] = (plan, inputs, (page.width, page.height))
                    record.outputs["tiles"] = len(inputs)
                record.outputs["lines"] = len(page_lines)
        step(len(pages), len(pages))
    lines.sort(
        key=lambda line: line.page
    )  # document order (stable): ties in retrieval go to the earlier page
    return _Viewed(lines, tiles, pages_viewed=len(routed.chosen), visual_tokens=routed.visual_tokens)


def _run_video(task, path, question, options, backend, limits, trace, step, started) -> Answer:
    if backend is None:
        raise AgentError(AgentErrorCode.UNSUPPORTED_MEDIA, "a video needs a VLM backend to search it")
    if task not in ("qa", "video_qa", "ground"):
        raise AgentError(AgentErrorCode.UNSUPPORTED_MEDIA, f"task {task!r} is not done on videos")
    metered = Metered(backend)
    found = search_video(metered, path, question, trace, options.video, limits, step)
    usage = Usage(
        visual_tokens=metered.visual_tokens,
        prompt_tokens=metered.prompt_tokens,
        completion_tokens=metered.completion_tokens,
        frames_viewed=len(found.seen),
        latency_ms=round((time.perf_counter() - started) * 1e3, 1),
    )
    answer = found.answer
    return Answer(
        clean_text(answer.text, MAX_ANSWER_CHARS),
        evidence=answer.evidence,
        fields=answer.fields,
        usage=usage,
        trace=trace.steps,
        model=f"sightline-agent + {backend.name}",
    )


def _answer_picture(task, question, viewed: _Viewed, backend, options, trace) -> Answer | None:
    """Questions about what an image shows, answered by the backend and checked; None where the task or
    the question is not of that kind (the caller then answers from the words)."""
    image, draw = viewed.image, viewed.draw
    size = (float(image.view.width), float(image.view.height))
    if task == "qa" and (phrase := presence_target(question)) is not None:
        with trace.step("answer_presence", question=question, phrase=phrase) as record:
            check = options.verify if options.verify_presence else None
            [said] = presence(backend, image, [phrase], draw, size, trace, check, options.views)
            evidence = []
            if said.box is not None:
                passed = said.verdict is not None and said.verdict.passed
                label = phrase if passed or check is None else f"unverified: {phrase}"
                score = None if said.verdict is None else float(passed)
                evidence.append(Evidence.from_box(said.box, *size, label=label, score=score))
            text = "yes" if said.yes else "no"
            record.outputs.update(text=text, said_yes=said.said_yes, evidence=len(evidence))
        return Answer(text, evidence=[e for e in evidence if said.yes], fields={"model_said": said.said_yes})
    if task == "count" or (task == "qa" and count_target(question) is not None):
        phrase = count_target(question) or ground_target(question)
        with trace.step("answer_count", question=question, phrase=phrase) as record:
            number = ask_count(backend, image, phrase, trace)
            counted = count_by_grounding(backend, image, phrase, trace, views=options.views, number=number)
            evidence = [Evidence.from_box(b, *size, label=phrase) for b in counted.boxes]
            record.outputs.update(text=str(counted.count), evidence=len(evidence))
        return Answer(str(counted.count), evidence=evidence, fields={"count": counted.count})
    if task == "qa" and (related := relation_target(question)) is not None:
        return _answer_relation(backend, image, related, draw, size, options, trace)
    if task == "ground":
        phrase = ground_target(question)
        with trace.step("answer_ground", question=question, phrase=phrase) as record:
            box = _ground_picture(backend, image, phrase, draw, size, options, trace)
            evidence = (
                [] if box is None else [_box_evidence(backend, phrase, box, draw, size, options, trace)]
            )
            record.outputs.update(found=box is not None, evidence=[e.label for e in evidence])
        return Answer(phrase if evidence else "", evidence=evidence)
    if task == "qa" and len(viewed.tiles[None][1]) == 1:
        return _ask_whole_picture(backend, image, question, size, trace)
    return None


def _ask_whole_picture(backend, image, question, size, trace) -> Answer | None:
    """A question no route knows, on an image that fits in one tile, asked as it is of the whole picture:
    no tile can miss the answer, so the tiles' NONE protocol has nothing to add (and a model trained on
    plain questions, like the shipped one, does not know it). None when the reply is empty: the caller
    then answers from the image's words."""
    with trace.step("ask", question=question) as record:
        [generation] = backend.generate([Prompt(question, images=(image,), system=DATA_NOTICE)], PLAIN)
        record.tokens = generation.prompt_tokens + generation.completion_tokens + generation.visual_tokens
        text = answer_text(generation)
        evidence = [
            Evidence.from_box(b.box, *size, label=clean_text(b.label or question, 200))
            for b in generation.boxes
        ]
        record.outputs.update(text=text, boxes=len(evidence))
    return Answer(text, evidence=evidence) if text or evidence else None


def _answer_relation(backend, image, related, draw, size, options, trace) -> Answer:
    """'Is the red circle to the left of the blue square?': each object grounded on its own, the verdict
    read off the two boxes' centres (`grounding.relation_gap`); "unknown" when either cannot be found."""
    subject, relation, reference = related
    with trace.step("answer_relation", subject=subject, relation=relation, reference=reference) as record:
        boxes = {
            phrase: _ground_picture(backend, image, phrase, draw, size, options, trace)
            for phrase in (subject, reference)
        }
        evidence = [
            _box_evidence(backend, phrase, box, draw, size, options, trace)
            for phrase, box in boxes.items()
            if box is not None
        ]
        fields: dict = {"relation": relation, "verdict": None, "gap": None}
        text = "unknown"
        if boxes[subject] is not None and boxes[reference] is not None:
            gap = relation_gap(boxes[subject], boxes[reference], relation)
            fields.update(verdict=gap > 0, gap=round(gap, 2))
            text = "yes" if gap > 0 else "no"
        record.outputs.update(text=text, gap=fields["gap"], evidence=[e.label for e in evidence])
    return Answer(text, evidence=evidence, fields=fields)


def _box_evidence(backend, phrase, box, draw, size, options, trace) -> Evidence:
    """`box` as evidence for `phrase`: verified when the options say so, and flagged when it fails."""
    label, score = phrase, None
    if options.verify is not None:
        [verdict] = verify_claims(backend, [Claim(phrase, box)], draw, size, trace, options.verify)
        label = phrase if verdict.passed else f"unverified: {phrase}"
        score = float(verdict.passed)
    return Evidence.from_box(box, *size, label=label, score=score)


def _ground_picture(backend, image, phrase, draw, size, options, trace) -> Box | None:
    """The box the backend points at for `phrase` (fused over several views of the image unless
    `options.views` is None); a small one is asked for again on a closer crop."""
    with trace.step("ground", prompt=ask_where(phrase)) as record:
        fused = fused_box(backend, image, ask_where(phrase), ONE_BOX, options.views)
        record.tokens, box = fused.tokens, fused.box
        if options.views is not None:
            record.outputs.update(views=fused.views, stated=fused.stated)
        record.outputs["box"] = None if box is None else box.as_list(1)
    if box is None or options.zoom is None or max(box.width, box.height) >= SMALL_BOX * min(size):
        return box
    with trace.step("zoom_ground", box=box.as_list(1)) as record:
        closer, view = zoom_tool.ask_closer(backend, ask_where(phrase), box, draw, size)
        record.tokens = closer.prompt_tokens + closer.completion_tokens + closer.visual_tokens
        record.outputs.update(view=view.source_region.as_list(1), boxes=len(closer.boxes))
        if closer.boxes:
            box = closer.boxes[0].box
            record.outputs["box"] = box.as_list(1)
    return box


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
