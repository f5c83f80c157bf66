"""Samples -> tensors: token ids and labels (right padded), the pictures as one pixel batch.

Design choices:
- The prompt template is the model's own (`encode_example`), so training and inference build identical
  sequences; the loss falls on the answer and its eos only.
- Pictures of all rows go through the encoder as one batch; `images_per_row` tells the model which
  encodings belong to which row (a video row holds several).
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
