"""The VLM: vision encoder -> projector -> language model, built from one `VLMConfig`.

Design choices:
- Three builders (encoder, projector, language model) dispatch on typed config kinds and raise on anything
  else; the VLM only wires them together.
- The model knows token ids and tensors, never text or files: the tokenizer, the prompt template and the
  checkpoint format live beside it (tokenizer.py, checkpoint.py).
- Inline projectors put their tokens where the prompt holds `<image>` placeholders (LLaVA's merge: one
  boolean scatter over the batch). The cross-attention projector hands the decoder a `mix` hook instead;
  a row without images gets one all-zero media token, which the bias-free gated attention turns into an
  exact zero, so batched and single rows agree.
- `encode_images` (encoder + projector) is the expensive, cacheable half: its output per image is what the
  vision cache stores, and `forward` takes those per-row tensors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from torch import nn

from vlm_engine.model.config import (
    HF_LANGUAGE_KINDS,
    HF_VISION_KINDS,
    LanguageConfig,
    LanguageKind,
    VisionConfig,
    VisionKind,
    VLMConfig,
)
from vlm_engine.model.decoder import Decoder, KVCache, Mix
from vlm_engine.model.hf import HFCausalLM, HFVisionTower
from vlm_engine.model.projector import build_vision_projector
from vlm_engine.model.tokenizer import IGNORE_INDEX
from vlm_engine.model.vit import ViT

VisionEncoder = ViT | HFVisionTower
LanguageModel = Decoder | HFCausalLM


def build_vision_encoder(config: VisionConfig) -> VisionEncoder:
    if config.kind is VisionKind.VIT:
        return ViT(config)
    if config.kind in HF_VISION_KINDS:
        return HFVisionTower(config)
    raise ValueError(f"unknown vision encoder type: {config.kind!r}")


def build_language_model(config: LanguageConfig) -> LanguageModel:
    if config.kind is LanguageKind.DECODER:
        return Decoder(config)
    if config.kind in HF_LANGUAGE_KINDS:
        return HFCausalLM(config)
    raise ValueError(f"unknown language model type: {config.kind!r}")


class SightlineVLM(nn.Module):
    def __init__(self, config: VLMConfig) -> None:
        super().__init__()
        self.config = config
        self.vision = build_vision_encoder(config.vision)
        self.projector = build_vision_projector(
            config.projector, config.vision, config.language.hidden_size, config.language.num_layers
        )
        self.language = build_language_model(config.language)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    @property
    def visual_tokens_per_image(self) -> int:
        """Visual feature vectors the language model reads per image at the input size."""
        return self.projector.num_tokens(self.config.vision.grid)

    @property
    def image_placeholders(self) -> int:
        """`<image>` tokens each image takes in the context (0 for cross-attention)."""
        return self.visual_tokens_per_image if self.projector.inline else 0

    def pixel_values(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """(N, 3, H, W) normalised input from N (H, W, 3) uint8 RGB arrays of one size."""
        batch = torch.from_numpy(np.stack([np.asarray(im, dtype=np.uint8) for im in images]))
        x = batch.to(self.device).permute(0, 3, 1, 2).float() / 255.0
        mean = torch.tensor(self.config.vision.image_mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.config.vision.image_std, device=x.device).view(1, 3, 1, 1)
        return ((x - mean) / std).to(self.dtype)

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(N, visual tokens, lm dim): encoder then projector, one row per image."""
        features, grid = self.vision(pixel_values)
        return self.projector(features, grid)

    def prepare(
        self, input_ids: torch.Tensor, visual: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, Mix | None]:
        """Input embeddings with the visual tokens merged in, and the decoder hook (cross-attention).

        `visual[b]` holds row b's images' encodings concatenated, (tokens, dim), possibly empty.
        """
        embeds = self.language.embed(input_ids)
        if self.projector.inline:
            slots = input_ids == self.config.image_token_id
            counts = slots.sum(dim=1).tolist()
            given = [v.shape[0] for v in visual]
            if counts != given:
                raise ValueError(f"prompts hold {counts} <image> placeholders but {given} visual tokens came")
            if sum(given):
                embeds = embeds.masked_scatter(slots.unsqueeze(-1), torch.cat(list(visual)).to(embeds.dtype))
            return embeds, None
        return embeds, self.projector.mix(*self._media(visual, embeds))

    def _media(
        self, visual: Sequence[torch.Tensor], like: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Rows' media padded to (batch, M, dim) plus a key mask (None when no row is padded)."""
        width = max([1, *(v.shape[0] for v in visual)])
        media = like.new_zeros(len(visual), width, like.shape[-1])
        mask = torch.zeros(len(visual), width, dtype=torch.bool, device=like.device)
        for row, v in enumerate(visual):
            media[row, : v.shape[0]] = v
            mask[row, : max(1, v.shape[0])] = True  # an empty row keeps its one zero token
        return media, None if bool(mask.all()) else mask[:, None, None, :]

    def forward(
        self,
        input_ids: torch.Tensor,
        visual: Sequence[torch.Tensor],
        padding: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: KVCache | transformers.DynamicCache | None = None,
    ) -> torch.Tensor:
        """The language model's final hidden states (batch, length, dim); `language.logits` scores them."""
        embeds, mix = self.prepare(input_ids, visual)
        return self.language(embeds, padding, position_ids, cache, mix)

    def loss(
        self, input_ids: torch.Tensor, labels: torch.Tensor, visual: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        """Next-token cross-entropy on the labelled positions of right-padded rows.

        Only the positions that carry a label are scored: the vocabulary projection is the costliest
        matmul of a small model, and prompts are mostly unlabelled.
        """
        hidden = self.forward(input_ids, visual)[:, :-1]
        targets = labels[:, 1:]
        scored = targets != IGNORE_INDEX
        return F.cross_entropy(self.language.logits(hidden[scored]).float(), targets[scored])
