"""Route: choose the few pages of a long PDF worth looking at, under a page budget.

Design choices:
- Every page in range is scored; only the best `page_budget` are viewed. A page with a text layer is
  scored by BM25 over its words (`text_baseline.bm25_rank`, one document per page) against the question's
  terms; its words are almost free to read (one MuPDF display list per page).
- An image-only page has no words to score. With no VLM backend it is OCR'd (seconds a page) and scored
  like the others. With a backend its thumbnail (`THUMBNAIL_TOKENS` visual tokens) is shown with a yes/no
  relevance question, batched over all such pages; a yes (the model saw the page itself) ranks above
  every page chosen by word overlap alone.
- Ties and zero scores keep document order, so a question that matches no page views the first pages.
- The page text read here is handed on: a chosen page is never read twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vlm_engine import text_baseline
from vlm_engine.agent.guard import DATA_NOTICE
from vlm_engine.agent.trace import Trace
from vlm_engine.backends.base import Backend, GenerationConfig, ImageInput, Prompt
from vlm_engine.media.pdf import PdfDocument, PdfPage
from vlm_engine.reading import TextLine, read_pdf_page
from vlm_engine.vision.tiling import TilingConfig, plan_native

DEFAULT_PAGE_BUDGET = 5
THUMBNAIL_TOKENS = 256
THUMBNAIL_DPI = 72.0


@dataclass(frozen=True)
class RoutedPages:
    chosen: tuple[int, ...]  # page indices to view, best first
    lines: dict[int, list[TextLine]]  # the text read while routing, by page index
    visual_tokens: int = 0  # spent on thumbnails of image-only pages


def route_pages(
    doc: PdfDocument,
    question: str,
    page_indices: Sequence[int],
    page_budget: int,
    trace: Trace,
    backend: Backend | None = None,
    checkpoint: Callable[[int, int], None] | None = None,
) -> RoutedPages:
    """Score every page of `page_indices`, keep the best `page_budget`; `checkpoint(done, total)` is called
    before each page is read (progress, and the caller's cancel check)."""
    with trace.step("route", question=question, pages=len(page_indices), page_budget=page_budget) as step:
        lines: dict[int, list[TextLine]] = {}
        image_only: list[PdfPage] = []
        ocr_pages = 0
        for done, index in enumerate(page_indices):
            if checkpoint is not None:
                checkpoint(done, len(page_indices))
            page = doc.page(index)
            needs_ocr = page.info().image_only
            if needs_ocr and backend is not None:
                image_only.append(page)
                continue
            ocr_pages += needs_ocr
            lines[index] = read_pdf_page(page, index)
        text_pages = sorted(lines)
        documents = [text_baseline.tokens(" ".join(line.text for line in lines[i])) for i in text_pages]
        ranked = text_baseline.bm25_rank(documents, text_baseline.query_terms(question))
        scores = {index: 0.0 for index in page_indices}
        for score, position in ranked:
            scores[text_pages[position]] = score
        visual_tokens = 0
        if image_only:
            relevant, visual_tokens = _ask_thumbnails(image_only, question, backend)
            top = max(scores.values(), default=0.0)
            for page, yes in zip(image_only, relevant, strict=True):
                scores[page.index] = top + 1.0 if yes else 0.0
        order = sorted(page_indices, key=lambda i: (-scores[i], i))
        chosen = tuple(order[:page_budget])
        step.outputs.update(
            chosen=list(chosen),
            scores=[round(scores[i], 3) for i in chosen],
            text_pages=len(text_pages),
            ocr_pages=ocr_pages,
            thumbnail_pages=len(image_only),
        )
        step.tokens = visual_tokens
        return RoutedPages(chosen, lines, visual_tokens)


def _ask_thumbnails(pages: list[PdfPage], question: str, backend: Backend) -> tuple[list[bool], int]:
    config = TilingConfig(max_visual_tokens=THUMBNAIL_TOKENS)
    prompts, planned_tokens = [], []
    for page in pages:
        plan = plan_native(page.width, page.height, config, pixel_scale=THUMBNAIL_DPI / 72.0)
        [tile] = plan.tiles
        planned_tokens.append(plan.visual_tokens)
        image = ImageInput(page.render_view(tile.view), tile.view)
        prompts.append(
            Prompt(
                f"Question: {question}\nCould this page hold the answer? Reply yes or no.",
                images=(image,),
                system=DATA_NOTICE,
            )
        )
    generations = backend.generate(prompts, GenerationConfig(max_new_tokens=3))
    answers = [g.text.strip().lower().startswith("yes") for g in generations]
    # a remote backend does not report visual tokens: count what the plan sent
    return answers, sum(
        g.visual_tokens or planned for g, planned in zip(generations, planned_tokens, strict=True)
    )
