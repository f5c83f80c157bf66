"""Stage 0's training-only heads on the encoder: dense per-patch predictions and the contrastive towers.

Design choices:
- The heads are linear on the patch features, so what they learn to read must be written linearly in the
  features: exactly what the projector and language model need later. They are not shipped.
- The text side of the contrastive loss is a bag of token embeddings: captions here are lists of objects,
  where order carries little, and a bag trains in seconds.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vlm_engine.train.data.dense import COLOUR_INDEX, KIND_INDEX


class DenseHeads(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.kind = nn.Linear(dim, len(KIND_INDEX))
        self.colour = nn.Linear(dim, len(COLOUR_INDEX) + 1)
        self.box = nn.Linear(dim, 4)
        self.centre = nn.Linear(dim, 1)
        self.value = nn.Linear(dim, 1)

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """(n, dim) patch features -> per-patch logits and raw regressions."""
        return {
            "kind": self.kind(features),
            "colour": self.colour(features),
            "box": self.box(features),
            "centre": self.centre(features).squeeze(-1),
            "value": self.value(features).squeeze(-1),
        }


class ContrastiveHeads(nn.Module):
    def __init__(self, vision_dim: int, vocab_size: int, dim: int = 128) -> None:
        super().__init__()
        self.image = nn.Linear(vision_dim, dim)
        self.text_embed = nn.EmbeddingBag(vocab_size, dim, mode="mean")
        self.text = nn.Linear(dim, dim)
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))

    def forward(
        self, features: torch.Tensor, token_ids: torch.Tensor, offsets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, dim) and (texts, dim) embeddings from patch features (images, patches, vision_dim)."""
        return self.image(features.mean(dim=1)), self.text(self.text_embed(token_ids, offsets))
