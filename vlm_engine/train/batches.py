"""Samples -> tensors: token ids and labels (right padded), the pictures as one pixel batch.

Design choices:
- The prompt template is the model's own (`encode_example`), so training and inference build identical
  sequences; the loss falls on the answer and its eos only.
- Pictures of all rows go through the encoder as one batch; `images_per_row` tells the model which
  encodings belong to which row (a video row holds several).
- A step's samples are split into a few groups of similar length before padding (`padded_groups`): the
  task mix pairs one-token answers with twelve-box ones, and padding every row to the longest wasted a
  third of the decoder's work (`bench/bench_train_step.py` measures the saving).
- `verdict_mask` marks the verdict of a spatial answer (its tokens after the last `</box>`, eos aside):
  the one place where the answer compares the two boxes just written, which stage 2v drills alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vlm_engine.model.tokenizer import IGNORE_INDEX, SightlineTokenizer, encode_example
from vlm_engine.train.data.things import Sample


@dataclass
class Batch:
    input_ids: torch.Tensor  # (rows, length)
    labels: torch.Tensor  # (rows, length), IGNORE_INDEX where no loss falls
    pixels: np.ndarray  # (images, size, size, 3) uint8
    images_per_row: list[int]

    @property
    def label_tokens(self) -> int:
        return int((self.labels != IGNORE_INDEX).sum())


def split_by_length(lengths: Sequence[int], max_groups: int) -> list[list[int]]:
    """Indices of `lengths` in at most `max_groups` runs of the sorted order that minimise the padded area
    (rows x longest row, summed over runs); ties keep the original order, so a split is deterministic."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    n = len(order)
    # best[g][j]: the least padded area of the first j sorted rows in g runs; cut[g][j]: where the last run starts
    best = [[0] + [float("inf")] * n for _ in range(max_groups + 1)]
    cut = [[0] * (n + 1) for _ in range(max_groups + 1)]
    for g in range(1, max_groups + 1):
        for j in range(1, n + 1):
            for i in range(g - 1, j):
                area = best[g - 1][i] + (j - i) * lengths[order[j - 1]]
                if area < best[g][j]:
                    best[g][j], cut[g][j] = area, i
    groups = min(range(1, max_groups + 1), key=lambda g: (best[g][n], g)) if n else 0
    runs, end = [], n
    for g in range(groups, 0, -1):
        start = cut[g][end]
        runs.append(order[start:end])
        end = start
    return [run for run in reversed(runs) if run]


def padded_groups(
    samples: Sequence[Sample], tokenizer: SightlineTokenizer, placeholders: int, max_groups: int = 3
) -> list[list[Sample]]:
    """`samples` grouped by picture count (a video's frames do not pad every still picture's row), each
    group cut into at most `max_groups` runs of similar token length."""
    by_pictures: dict[int, list[Sample]] = {}
    for sample in samples:
        by_pictures.setdefault(len(sample.pictures), []).append(sample)
    out = []
    for count in sorted(by_pictures):
        group = by_pictures[count]
        lengths = [
            len(encode_example(tokenizer, s.question, [placeholders] * count, s.answer)[0]) for s in group
        ]
        out += [[group[i] for i in run] for run in split_by_length(lengths, max_groups)]
    return out


def pad_rows(rows: Sequence[Sequence[int]], fill: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), fill, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def collate(
    samples: Sequence[Sample],
    tokenizer: SightlineTokenizer,
    placeholders: int,
    answers: Sequence[str] | None = None,
) -> Batch:
    """A batch of `samples` with their answers (or the given `answers`, e.g. the rejected ones)."""
    answers = [s.answer for s in samples] if answers is None else answers
    encoded = [
        encode_example(tokenizer, s.question, [placeholders] * len(s.pictures), answer)
        for s, answer in zip(samples, answers, strict=True)
    ]
    return Batch(
        input_ids=pad_rows([ids for ids, _ in encoded], tokenizer.pad_id),
        labels=pad_rows([labels for _, labels in encoded], IGNORE_INDEX),
        pixels=np.stack([p.pixels for s in samples for p in s.pictures]),
        images_per_row=[len(s.pictures) for s in samples],
    )


def verdict_mask(labels: torch.Tensor, tokenizer: SightlineTokenizer) -> torch.Tensor:
    """(rows, length) True on the labelled tokens after a row's last `</box>`, its eos aside: a spatial
    answer's verdict (an answer of boxes alone, or of none, has nothing there)."""
    mask = torch.zeros_like(labels, dtype=torch.bool)
    for row in range(labels.shape[0]):
        ends = (labels[row] == tokenizer.box_end_id).nonzero()
        if len(ends):
            after = labels[row, int(ends[-1]) + 1 :]
            mask[row, int(ends[-1]) + 1 :] = (after != IGNORE_INDEX) & (after != tokenizer.eos_id)
    return mask
