"""Look: show a page (or an image) to a VLM backend as tiles under a visual-token budget.

Design choices:
- The tile plan comes from `vision.tiling.plan_tiles` (grid + thumbnail, sized by the token budget). A PDF
  page is rendered once at the plan's canvas size and the tiles cut from it (`cut_views`); an image is cut
  from its own pixels. Every tile is an `ImageInput` whose `View` maps it back to the source, so the boxes
  a backend returns are already in source units: this module does no coordinate arithmetic.
- One prompt per tile, batched in one `generate` call; the question goes in as the user's, the page only as
  pixels, with the data notice as the system line (document text is never an instruction).
- A tile that does not show the answer says NONE. The answer is the first one given by a grid tile with a
  box (tiles see more detail than the thumbnail), else by any tile; its evidence is every box given with
  that same answer. A box is snapped to the words under it when the page's words are known and share a
  word with the answer (text evidence); a box around a picture or a mark keeps the model's edges.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vlm_engine import text_baseline
from vlm_engine.agent.guard import DATA_NOTICE, MAX_ANSWER_CHARS, clean_text
from vlm_engine.answer import Evidence
from vlm_engine.backends.base import Backend, Generation, GenerationConfig, ImageInput, Prompt
from vlm_engine.grounding import Box, View, snap_to_words
from vlm_engine.media.pdf import PdfPage
from vlm_engine.reading import TextLine
from vlm_engine.vision.tiling import TileKind, TilePlan, TilingConfig, cut_views, plan_tiles

NONE_ANSWER = "NONE"
_MARKUP = re.compile(
    r"<box>.*?</box>|<\|box_start\|>.*?<\|box_end\|>|<object>.*?</object>|<[^<>]{0,60}>"
    r"|\[[\d\s,.\[\]]*\]|\(\s*\d+\s*,\s*\d+\s*\)|```(?:json)?",
    re.S,
)
LOOK_DPI = 144.0


@dataclass(frozen=True)
class Look:
    text: str  # "" when no tile showed the answer
    evidence: list[Evidence]
    visual_tokens: int
    prompt_tokens: int
    completion_tokens: int


def page_tiles(page: PdfPage, config: TilingConfig) -> tuple[TilePlan, list[ImageInput]]:
    """The tiles of a PDF page, rendered once at the plan's canvas size."""
    scale = LOOK_DPI / 72.0
    plan = plan_tiles(page.width, page.height, config, pixel_area=page.width * page.height * scale * scale)
    rendered = page.render(size=plan.canvas_size)
    views = [tile.view for tile in plan.tiles]
    crops = cut_views(rendered.pixels, rendered.view, views, render=page.render_view)
    return plan, [ImageInput(np.ascontiguousarray(c), v) for c, v in zip(crops, views, strict=True)]


def image_tiles(pixels: np.ndarray, config: TilingConfig) -> tuple[TilePlan, list[ImageInput]]:
    """The tiles of an image, cut from its own pixels."""
    height, width = pixels.shape[:2]
    plan = plan_tiles(width, height, config)
    views = [tile.view for tile in plan.tiles]
    crops = cut_views(pixels, View(width, height), views)
    return plan, [ImageInput(np.ascontiguousarray(c), v) for c, v in zip(crops, views, strict=True)]


def look(
    backend: Backend,
    question: str,
    plan: TilePlan,
    tiles: Sequence[ImageInput],
    source_size: tuple[float, float],
    page: int | None = None,
    words: Sequence[TextLine] = (),
) -> Look:
    prompts = [
        Prompt(
            f"Question: {question}\nIf this image shows the answer, reply with the answer and the box where "
            f"it is printed. Otherwise reply {NONE_ANSWER}.",
            images=(tile,),
            system=DATA_NOTICE,
        )
        for tile in tiles
    ]
    generations = backend.generate(prompts, GenerationConfig(max_new_tokens=64))
    kinds = [tile.kind for tile in plan.tiles]
    answered = [
        (kind, g)
        for kind, g in zip(kinds, generations, strict=True)
        if answer_text(g).upper() not in ("", NONE_ANSWER)
    ]
    answered.sort(key=lambda kg: (kg[0] is TileKind.THUMBNAIL, not kg[1].boxes))
    text = answer_text(answered[0][1]) if answered else ""
    word_boxes = [b for line in words for b in line.word_boxes]
    word_texts = [w for line in words for w in line.words]
    evidence = []
    for _, generation in answered:
        if answer_text(generation) != text:
            continue
        for source_box in generation.boxes:
            box, quoted = source_box.box, ""
            snapped = snap_to_words(box, word_boxes) if word_boxes else None
            if snapped is not None:
                under = " ".join(word_texts[i] for i in snapped[1])
                if set(text_baseline.tokens(under)) & set(text_baseline.tokens(text)):  # text evidence only
                    box, quoted = snapped[0], under
            evidence.append(_evidence(box, source_size, page, source_box.label or question, quoted))
    return Look(
        text,
        evidence,
        visual_tokens=sum(g.visual_tokens for g in generations) or plan.visual_tokens,  # remote: the plan's
        prompt_tokens=sum(g.prompt_tokens for g in generations),
        completion_tokens=sum(g.completion_tokens for g in generations),
    )


def answer_text(generation: Generation) -> str:
    """The answer a model wrote, without box markup (tags, coordinate lists), as plain capped text."""
    return clean_text(_MARKUP.sub(" ", generation.text), MAX_ANSWER_CHARS).strip(" ,.:;")


def _evidence(box: Box, size: tuple[float, float], page: int | None, label: str, text: str) -> Evidence:
    return Evidence.from_box(box, *size, page=page, label=clean_text(label, 200), text=text, score=None)
