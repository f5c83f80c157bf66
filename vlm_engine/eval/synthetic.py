"""The synthetic evaluation suite: held-out generated sets scored against their ground truth.

Design choices:
- Sets come from the generators' held-out split (shades, textures and fonts training never shows) and a
  seed of their own; `n` samples per task. Any backend runs it: prompts carry the pictures as
  `ImageInput`s whose view is the picture itself, so boxes come back in picture pixels, the truth's units.
- Scores: grounding Acc@0.5 (IoU of the first box), counting exact match by bucket (1-3, 4-6, 7-12),
  POPE-style accuracy, F1 of "yes", yes-ratio and per-subset accuracy, and the hallucination rate (share of
  absent objects answered "yes"); the set's own share of "yes" questions is printed beside the yes-ratio
  (each question is a coin flip, so a set of 100 holds 0.39-0.55 "yes": a perfect model's yes-ratio), spatial accuracy, chart values within 5% (relative, as ChartQA's relaxed
  accuracy; also by kind: bar, pie slice, line), temporal IoU of the stated window.
- Several seeds pool into one result (`run_pooled`): each seed's sets are scored as `run` scores them and
  the metrics are taken over all their records together, each seed's own beside them (`per_seed`); the
  README's figures over 500 questions a task are seeds 0, 1 and 2 at 100, 100 and 300.
- Answers are read leniently (the first number, a leading yes/no after any evidence boxes, the first
  box): the suite scores what the model knows, not its punctuation.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from vlm_engine.backends.base import Backend, Generation, GenerationConfig, ImageInput, Prompt
from vlm_engine.train.data import Sample, Split, generate_samples

logger = logging.getLogger(__name__)

TASKS = ("ground", "count", "presence", "spatial", "chart_value", "temporal", "find_all")
CONFIG = GenerationConfig(max_new_tokens=200)  # room for 12 boxes of "find every"
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_WINDOW = re.compile(r"from\s*(-?\d+(?:\.\d+)?)\s*s\s*to\s*(-?\d+(?:\.\d+)?)\s*s")
SEED_OFFSET = 7_777  # held-out seeds start far from any training seed's stream


def held_out_sets(n: int, seed: int = 0, tasks: Sequence[str] = TASKS) -> dict[str, list[Sample]]:
    """Held-out sets, each seeded by its task's place in `tasks` (the benches' own sets)."""
    return {task: _held_out(task, n, seed, i) for i, task in enumerate(tasks)}


def suite_sets(n: int, seed: int = 0, tasks: Sequence[str] = TASKS) -> dict[str, list[Sample]]:
    """The full suite's own sets for `tasks` (each seeded by its task's place in `TASKS`), whatever subset
    is asked for: what `run` scores, so another way of answering sees the same questions."""
    return {task: _held_out(task, n, seed, TASKS.index(task)) for task in tasks}


def _held_out(task: str, n: int, seed: int, place: int) -> list[Sample]:
    return generate_samples(n, SEED_OFFSET + seed * 100 + place, Split.HELD_OUT, mix=task)


def first_number(text: str) -> float | None:
    found = _NUMBER.search(text)
    return float(found.group()) if found else None


def yes_no(text: str) -> str:
    """The verdict: a leading yes or no, after any boxes given as evidence ("<box>..</box> yes")."""
    head = text.rsplit("</box>", 1)[-1].strip().lower()
    return "yes" if head.startswith("yes") else "no" if head.startswith("no") else ""


def interval_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def _prompt(sample: Sample) -> Prompt:
    return Prompt(sample.question, tuple(ImageInput.whole(p.pixels) for p in sample.pictures))


def score(sample: Sample, generation: Generation) -> dict[str, Any]:
    """The per-sample record: what was asked, what came back, and whether it was right."""
    text, truth = generation.text, sample.truth
    record: dict[str, Any] = {"task": sample.task, "subset": sample.subset, "answer": text[:200]}
    if sample.task == "ground":
        iou = generation.boxes[0].box.iou(truth["box"]) if generation.boxes else 0.0
        record.update(iou=iou, correct=iou >= 0.5)
    elif sample.task == "count":
        record.update(correct=first_number(text) == truth["count"])
    elif sample.task == "find_all":
        record.update(correct=len(generation.boxes) == truth["count"])
    elif sample.task in ("presence", "spatial"):
        said = yes_no(text)
        record.update(said=said, truth=truth["answer"], correct=said == truth["answer"])
    elif sample.task == "chart":
        value = first_number(text)
        record.update(correct=value is not None and abs(value - truth["value"]) <= 0.05 * abs(truth["value"]))
    elif sample.task == "temporal":
        found = _WINDOW.search(text)
        iou = interval_iou((float(found[1]), float(found[2])), truth["window"]) if found else 0.0
        record.update(iou=iou, correct=iou >= 0.5)
    return record


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_task[r["task"]].append(r)
    out: dict[str, Any] = {}
    if by_task["ground"]:
        out["grounding_acc@0.5"] = _mean([r["correct"] for r in by_task["ground"]])
        out["grounding_mean_iou"] = _mean([r["iou"] for r in by_task["ground"]])
    for name, task in (("counting", "count"), ("count_by_grounding", "find_all")):
        rows = by_task[task]
        if rows:
            out[f"{name}_exact"] = _mean([r["correct"] for r in rows])
            for bucket in ("0", "1-3", "4-6", "7-12"):
                chosen = [r["correct"] for r in rows if r["subset"] == bucket]
                if chosen:
                    out[f"{name}_exact_{bucket}"] = _mean(chosen)
    pope = by_task["presence"]
    if pope:
        said_yes = [r["said"] == "yes" for r in pope]
        true_pos = sum(r["said"] == "yes" and r["truth"] == "yes" for r in pope)
        precision = true_pos / max(1, sum(said_yes))
        recall = true_pos / max(1, sum(r["truth"] == "yes" for r in pope))
        out["pope_accuracy"] = _mean([r["correct"] for r in pope])
        out["pope_f1"] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out["pope_yes_ratio"] = _mean(said_yes)
        out["pope_true_yes_share"] = _mean([r["truth"] == "yes" for r in pope])  # the set's own balance
        out["hallucination_rate"] = _mean([r["said"] == "yes" for r in pope if r["truth"] == "no"])
        for subset in ("random", "popular", "adversarial"):
            chosen = [r["correct"] for r in pope if r["subset"] == subset]
            if chosen:
                out[f"pope_accuracy_{subset}"] = _mean(chosen)
    if by_task["spatial"]:
        out["spatial_accuracy"] = _mean([r["correct"] for r in by_task["spatial"]])
    if by_task["chart"]:
        out["chart_within_5pct"] = _mean([r["correct"] for r in by_task["chart"]])
        for kind in ("bar", "slice", "line"):
            chosen = [r["correct"] for r in by_task["chart"] if r["subset"] == kind]
            if chosen:
                out[f"chart_within_5pct_{kind}"] = _mean(chosen)
    if by_task["temporal"]:
        out["temporal_mean_iou"] = _mean([r["iou"] for r in by_task["temporal"]])
    return out


def run(backend: Backend, n: int = 100, seed: int = 0, tasks: Sequence[str] = TASKS) -> dict[str, Any]:
    """Generate the held-out sets, ask `backend`, score. Returns {"metrics", "records", "model", "n"}."""
    sets = suite_sets(n, seed, tasks)
    records = []
    for task, samples in sets.items():
        generations = backend.generate([_prompt(s) for s in samples], CONFIG)
        records += [score(s, g) for s, g in zip(samples, generations, strict=True)]
        logger.info("synthetic eval: %s done (%d samples)", task, len(samples))
    return {"model": backend.name, "n": n, "seed": seed, "metrics": summarise(records), "records": records}


def run_pooled(
    backend: Backend, draws: Sequence[tuple[int, int]], tasks: Sequence[str] = TASKS
) -> dict[str, Any]:
    """`run` for each (seed, n) of `draws`; the metrics over all their records, and each seed's own."""
    if len({seed for seed, _ in draws}) != len(draws):
        raise ValueError(f"each seed once: {[seed for seed, _ in draws]}")
    results = [run(backend, n=n, seed=seed, tasks=tasks) for seed, n in draws]
    records = [record for result in results for record in result["records"]]
    return {
        "model": backend.name,
        "n": sum(n for _, n in draws),
        "draws": [list(draw) for draw in draws],
        "metrics": summarise(records),
        "per_seed": {str(r["seed"]): {"n": r["n"], "metrics": r["metrics"]} for r in results},
        "records": records,
    }


TARGETS = {
    "grounding_acc@0.5": 0.85,
    "counting_exact": 0.80,
    "pope_f1": 0.90,
    "spatial_accuracy": 0.85,
    "chart_within_5pct": 0.70,
}


def format_table(result: dict[str, Any], *others: dict[str, Any]) -> str:
    """The metrics as a text table; extra results (e.g. the stage-2 model) become more columns."""
    results = [result, *others]
    names = sorted({k for r in results for k in r["metrics"]}, key=lambda k: (k not in TARGETS, k))
    header = ["metric", *(str(r["model"])[-28:] for r in results), "target"]
    rows = [header]
    for name in names:
        values = [f"{r['metrics'][name]:.3f}" if name in r["metrics"] else "-" for r in results]
        target = (
            f">= {TARGETS[name]:.2f}"
            if name in TARGETS
            else ("0.45-0.55" if name == "pope_yes_ratio" else "")
        )
        rows.append([name, *values, target])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)
