"""Adapters that let transformers models stand in for the own ViT and decoder.

Design choices:
- Each adapter exposes exactly the interface of the part it replaces (`ViT.forward`, `Decoder.forward`,
  `embed`, `new_cache`), so the VLM, the projectors and generation never branch on where a part came from.
- The transformers class is chosen from the config's typed `kind` through one table, never from a model
  name; the model is built from its config with SDPA attention (no download, no weights); pretrained
  weights of a tower come from a local directory on request (`load_pretrained`).
- Prefix tokens (CLIP's and DINOv2's CLS) are dropped: projectors consume patch tokens only.
"""

from __future__ import annotations

from pathlib import Path

import torch
import transformers
from torch import nn

from vlm_engine.model.config import (
    LanguageConfig,
    LanguageKind,
    VisionConfig,
    VisionKind,
    hf_config_object,
)

# kind -> (model class name, prefix tokens before the patches, accepts `interpolate_pos_encoding`)
VISION_TOWERS = {
    VisionKind.CLIP: ("CLIPVisionModel", 1, True),
    VisionKind.SIGLIP: ("SiglipVisionModel", 0, True),
    VisionKind.DINOV2: ("Dinov2Model", 1, False),  # always interpolates
}
CAUSAL_LMS = {LanguageKind.LLAMA: "LlamaForCausalLM", LanguageKind.QWEN2: "Qwen2ForCausalLM"}


class HFVisionTower(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.config = config
        class_name, self.prefix, self.interpolate = VISION_TOWERS[config.kind]
        self.model_class = getattr(transformers, class_name)
        hf = hf_config_object(config.kind, config.hf_config)
        self.model = self.model_class._from_config(hf, attn_implementation="sdpa")

    def load_pretrained(self, path: str | Path) -> None:
        """Copy the weights of a tower saved with `save_pretrained` in a local directory (no download)."""
        pretrained = self.model_class.from_pretrained(path, local_files_only=True)
        self.model.load_state_dict(pretrained.state_dict())

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        patch = self.config.patch_size
        rows, cols = pixels.shape[-2] // patch, pixels.shape[-1] // patch
        kwargs = {"interpolate_pos_encoding": True} if self.interpolate else {}
        feature_layer = self.config.feature_layer
        out = self.model(pixel_values=pixels, output_hidden_states=feature_layer != -1, **kwargs)
        features = out.last_hidden_state if feature_layer == -1 else out.hidden_states[feature_layer]
        return features[:, self.prefix :], (rows, cols)


class HFCausalLM(nn.Module):
    def __init__(self, config: LanguageConfig) -> None:
        super().__init__()
        self.config = config
        self.hf_config = hf_config_object(config.kind, config.hf_config)
        model_class = getattr(transformers, CAUSAL_LMS[config.kind])
        self.model = model_class._from_config(self.hf_config, attn_implementation="sdpa")

    @property
    def hidden_size(self) -> int:
        return self.config.hidden_size

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.get_input_embeddings()(ids)

    def new_cache(self, capacity: int) -> transformers.DynamicCache:
        return transformers.DynamicCache(config=self.hf_config)

    def forward(
        self,
        embeds: torch.Tensor,
        padding: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: transformers.DynamicCache | None = None,
        mix: None = None,
    ) -> torch.Tensor:
        if mix is not None:
            raise ValueError("transformers causal LMs take no interleaved cross-attention")
        out = self.model.get_decoder()(
            inputs_embeds=embeds,
            attention_mask=padding,
            position_ids=position_ids,
            cache=cache,
            use_cache=cache is not None,
        )
        return out.last_hidden_state

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.model.get_output_embeddings()(hidden)
