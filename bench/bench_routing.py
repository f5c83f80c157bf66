"""Page routing against viewing every page: `python bench/bench_routing.py [--pages 200] [--questions 20]
[--budget 5] [--backend KIND:MODEL]`.

A generated PDF (pymupdf, seeded): every page is a project report of filler sentences over a shared
vocabulary ("budget", "approved", "project", "committee"...), one fact line "Project NAME was approved with a
budget of AMOUNT euros." with a made-up name and amount per page, and a line naming another page's project
in passing (a distractor). Each question asks for one project's budget; it is right when the answer holds
that page's amount and its first evidence box lies on that page.

Ways, both through `vlm_engine.agent.run_agent("qa", ...)`, the questions interleaved:
(a) routed: BM25 over the pages' text layers picks `--budget` pages to view;
(b) all pages: the page budget is the page count, so every page is viewed.
Columns: accuracy, pages viewed per question, wall time per question, and the visual tokens and tile-render
time that viewing those pages costs a VLM (the tile plan at the default `TilingConfig`, rendered with
`agent.look.page_tiles` on the pages viewed; without `--backend` no model runs, so the agent's own time is
text-layer reading and retrieval, which both ways pay for every page).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pymupdf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vlm_engine.agent import AgentOptions, run_agent
from vlm_engine.agent.look import page_tiles
from vlm_engine.backends.registry import BACKEND_KINDS, load_backend
from vlm_engine.media.pdf import PdfDocument
from vlm_engine.vision.tiling import TilingConfig

SYLLABLES = ["ka", "lo", "mi", "ren", "tas", "vor", "qui", "zen", "bal", "dor", "fex", "gri", "hul", "jin"]
FILLER = [
    "The committee reviewed the budget of every project this quarter.",
    "Each project lead reported progress against the approved plan.",
    "Budget changes above ten percent need a second approval.",
    "The steering group meets every month to discuss open risks.",
    "Spending stayed within the approved envelope for most teams.",
    "Procurement delays moved two milestones into the next quarter.",
    "The audit found no material issue in the project accounts.",
    "Hiring for the data team finished ahead of plan.",
]


def project_names(count: int, rng: random.Random) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        names.add("".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize())
    return sorted(names, key=lambda _: rng.random())


def make_pdf(path: Path, pages: int, seed: int) -> list[tuple[str, str]]:
    """Write the report; return (project name, amount) of each page."""
    rng = random.Random(seed)
    names = project_names(pages, rng)
    facts = [(name, f"{rng.randint(10, 990)},{rng.randint(0, 999):03d}") for name in names]
    doc = pymupdf.open()
    for index, (name, amount) in enumerate(facts):
        page = doc.new_page()
        page.insert_text((72, 72), f"Quarterly project report, section {index + 1}", fontsize=14)
        lines = rng.sample(FILLER, 6)
        lines.insert(rng.randint(0, 6), f"Project {name} was approved with a budget of {amount} euros.")
        other = facts[rng.randrange(pages)][0]
        lines.insert(rng.randint(0, 7), f"The team of project {other} shared a meeting room with us.")
        for row, text in enumerate(lines):
            page.insert_text((72, 110 + 22 * row), text, fontsize=11)
    doc.save(path)
    return facts


def view_cost(path: Path, pages: list[int], config: TilingConfig) -> tuple[int, float]:
    """Visual tokens and seconds to render the tiles of `pages`: what showing them to a VLM costs."""
    started = time.perf_counter()
    tokens = 0
    with PdfDocument.open(str(path)) as doc:
        for index in pages:
            plan, _ = page_tiles(doc.page(index), config)
            tokens += plan.visual_tokens
    return tokens, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--budget", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--backend", help="KIND:MODEL, KIND one of " + ", ".join(BACKEND_KINDS))
    args = parser.parse_args()
    backend = None
    if args.backend:
        kind, _, model = args.backend.partition(":")
        backend = load_backend(kind, model)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.pdf"
        facts = make_pdf(path, args.pages, args.seed)
        asked = random.Random(args.seed + 1).sample(range(args.pages), args.questions)
        ways = {"routed": args.budget, "all pages": args.pages}
        stats = {way: {"right": 0, "pages": [], "seconds": [], "tokens": 0, "render_s": 0.0} for way in ways}
        config = TilingConfig()
        costs: dict[tuple[int, ...], tuple[int, float]] = {}
        for page in asked:
            name, amount = facts[page]
            question = f"What budget was approved for project {name}?"
            for way, budget in ways.items():
                started = time.perf_counter()
                answer = run_agent(
                    "qa",
                    str(path),
                    question=question,
                    options=AgentOptions(page_budget=budget),
                    backend=backend,
                )
                elapsed = time.perf_counter() - started
                viewed = next(s for s in answer.trace if s.tool == "route").outputs["chosen"]
                pages_key = tuple(viewed) if budget < args.pages else tuple(range(args.pages))
                if pages_key not in costs:  # the same pages cost the same: render them once
                    costs[pages_key] = view_cost(path, list(pages_key), config)
                tokens, render_s = costs[pages_key]
                right = amount in answer.text and bool(answer.evidence) and answer.evidence[0].page == page
                record = stats[way]
                record["right"] += right
                record["pages"].append(answer.usage.pages_viewed)
                record["seconds"].append(elapsed)
                record["tokens"] += tokens
                record["render_s"] += render_s

    n = args.questions
    print(
        f"{args.pages}-page generated PDF, {n} questions, page budget {args.budget}, backend {args.backend or 'none'}"
    )
    print(
        f"{'way':<11}{'accuracy':>9}{'pages/q':>9}{'agent s/q':>11}{'vis tokens/q':>14}{'tile render s/q':>17}"
    )
    for way, s in stats.items():
        print(
            f"{way:<11}{s['right'] / n:>9.2f}{statistics.fmean(s['pages']):>9.1f}"
            f"{statistics.fmean(s['seconds']):>11.3f}{s['tokens'] / n:>14.0f}{s['render_s'] / n:>17.3f}"
        )
    routed, full = stats["routed"], stats["all pages"]
    print(
        f"all pages / routed: pages {statistics.fmean(full['pages']) / statistics.fmean(routed['pages']):.1f}x, "
        f"agent time {sum(full['seconds']) / sum(routed['seconds']):.2f}x, "
        f"visual tokens {full['tokens'] / max(routed['tokens'], 1):.1f}x, "
        f"tile render time {full['render_s'] / max(routed['render_s'], 1e-9):.1f}x"
    )


if __name__ == "__main__":
    main()
