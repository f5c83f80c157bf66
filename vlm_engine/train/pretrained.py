"""The real-size recipe: a VLM built from pretrained transformers parts saved on disk, for a GPU run.

Design choices:
- Parts come from local directories only (`save_pretrained` output: a SigLIP/CLIP/DINOv2 tower, a
  Llama/Qwen2 causal LM with its tokenizer.json); nothing is downloaded.
- The tokenizer is the language model's own with Sightline's special tokens appended (image markers, box
  and location tokens), so every pretrained token keeps its id and its embedding; the embedding table
  grows by the new tokens (transformers' `resize_token_embeddings`) before the weights are copied in.
- Stage 0 is skipped (the parts are pretrained); stages 1-3 run as in the tiny recipe, with the sample
  pictures generated at the tower's input size.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import transformers
from tokenizers import Tokenizer

from vlm_engine.model.config import (
    LanguageConfig,
    LanguageKind,
    ProjectorConfig,
    ProjectorKind,
    VisionConfig,
    VisionKind,
    VLMConfig,
)
from vlm_engine.model.hf import CAUSAL_LMS
from vlm_engine.model.tokenizer import SPECIAL_TOKENS, SightlineTokenizer
from vlm_engine.model.vlm import SightlineVLM
from vlm_engine.train.recipe import Recipe, tiny_recipe

VISION_TYPES = {
    "clip_vision_model": VisionKind.CLIP,
    "siglip_vision_model": VisionKind.SIGLIP,
    "dinov2": VisionKind.DINOV2,
}
LANGUAGE_TYPES = {"llama": LanguageKind.LLAMA, "qwen2": LanguageKind.QWEN2}


def pretrained_tokenizer(language_dir: str | Path) -> SightlineTokenizer:
    """The language model's tokenizer.json plus Sightline's special tokens (appended, in order)."""
    tokenizer = Tokenizer.from_file(str(Path(language_dir) / "tokenizer.json"))
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    return SightlineTokenizer(tokenizer)


def _config(directory: str | Path) -> transformers.PretrainedConfig:
    return transformers.AutoConfig.from_pretrained(directory, local_files_only=True)


def real_size_recipe(
    vision_dir: str | Path, language_dir: str | Path, tokenizer: SightlineTokenizer
) -> Recipe:
    vision_hf = _config(vision_dir)
    vision_hf = getattr(vision_hf, "vision_config", vision_hf)  # a full CLIP/SigLIP config holds the tower's
    language_hf = _config(language_dir)
    try:
        vision_kind = VISION_TYPES[vision_hf.model_type]
        language_kind = LANGUAGE_TYPES[language_hf.model_type]
    except KeyError as missing:
        raise ValueError(f"unsupported pretrained part type {missing}") from None
    language_hf.vocab_size = len(tokenizer)
    model = VLMConfig(
        vision=VisionConfig.from_hf(vision_kind, vision_hf),
        projector=ProjectorConfig(kind=ProjectorKind.MLP),
        language=LanguageConfig.from_hf(language_kind, language_hf),
        image_token_id=tokenizer.image_id,
    )
    base = tiny_recipe(tokenizer)
    return replace(
        base,
        name="sightline-real",
        model=model,
        stage0_encoder=replace(base.stage0_encoder, steps=0),
        stage0_language=replace(base.stage0_language, steps=0),
        stage1=replace(base.stage1, steps=2000, lr=1e-3),
        stage2=replace(base.stage2, steps=20000, lr=2e-5),
        stage2b=None,  # measured only on the tiny recipe, whose decoder starts from scratch
        stage3=replace(base.stage3, steps=1000, lr=5e-7),
        pretrained={"vision": str(vision_dir), "language": str(language_dir)},
    )


def load_pretrained_parts(model: SightlineVLM, recipe: Recipe) -> None:
    """Copy the parts' weights into `model` (the language model's embeddings grown to the tokenizer)."""
    model.vision.load_pretrained(recipe.pretrained["vision"])
    language_class = getattr(transformers, CAUSAL_LMS[recipe.model.language.kind])
    source = language_class.from_pretrained(recipe.pretrained["language"], local_files_only=True)
    source.resize_token_embeddings(recipe.model.language.vocab_size)
    model.language.model.load_state_dict(source.state_dict())


__all__ = ["load_pretrained_parts", "pretrained_tokenizer", "real_size_recipe"]
