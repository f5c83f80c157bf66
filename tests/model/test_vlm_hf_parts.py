"""Transformers parts, built offline from their config classes: vision towers and causal LMs."""

from __future__ import annotations

import pytest
import torch
import transformers

from tests.model.synthetic import mixed_batch, tokenizer
from vlm_engine.model.checkpoint import load, save
from vlm_engine.model.config import (
    LanguageConfig,
    LanguageKind,
    ProjectorConfig,
    ProjectorKind,
    VisionConfig,
    VisionKind,
    VLMConfig,
)
from vlm_engine.model.generate import DecodeOptions, generate
from vlm_engine.model.hf import HFCausalLM, HFVisionTower
from vlm_engine.model.vlm import SightlineVLM

TINY_TOWER = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    image_size=32,
    patch_size=8,
)
TOWERS = {
    VisionKind.CLIP: transformers.CLIPVisionConfig,
    VisionKind.SIGLIP: transformers.SiglipVisionConfig,
    VisionKind.DINOV2: transformers.Dinov2Config,
}
LMS = {LanguageKind.LLAMA: transformers.LlamaConfig, LanguageKind.QWEN2: transformers.Qwen2Config}


def own_vision() -> VisionConfig:
    return VisionConfig(image_size=32, patch_size=8, hidden_size=32, num_layers=1, num_heads=2)


def own_language() -> LanguageConfig:
    return LanguageConfig(
        vocab_size=len(tokenizer()),
        hidden_size=64,
        num_layers=2,
        num_heads=4,
        num_kv_heads=2,
        intermediate_size=128,
    )


def hf_language(kind: LanguageKind) -> LanguageConfig:
    hf = LMS[kind](
        vocab_size=len(tokenizer()),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    return LanguageConfig.from_hf(kind, hf)


def build(
    vision: VisionConfig, language: LanguageConfig, projector: ProjectorKind = ProjectorKind.MLP
) -> SightlineVLM:
    torch.manual_seed(0)
    config = VLMConfig(
        vision=vision,
        projector=ProjectorConfig(kind=projector, num_queries=4, num_layers=1, num_heads=2),
        language=language,
        image_token_id=tokenizer().image_id,
    )
    return SightlineVLM(config).eval()


@pytest.mark.parametrize("kind", list(TOWERS))
def test_hf_vision_towers_build_offline_and_generate(kind):
    vision = VisionConfig.from_hf(kind, TOWERS[kind](**TINY_TOWER), feature_layer=-2)
    model = build(vision, own_language(), ProjectorKind.PIXEL_SHUFFLE_MLP)
    assert isinstance(model.vision, HFVisionTower)
    prompts, visual = mixed_batch(model)
    assert visual[0].shape == (4, 64)  # 4 x 4 patches (CLS dropped), 2 x 2 shuffled
    completions = generate(model, tokenizer(), prompts, visual, DecodeOptions(max_new_tokens=5))
    assert all(c.ids for c in completions)


@pytest.mark.parametrize("kind", list(LMS))
def test_hf_causal_lms_build_offline_and_generate(kind):
    model = build(own_vision(), hf_language(kind), ProjectorKind.QFORMER)
    assert isinstance(model.language, HFCausalLM)
    tok = tokenizer()
    prompts, visual = mixed_batch(model)
    options = DecodeOptions(max_new_tokens=8)
    batched = generate(model, tok, prompts, visual, options)
    singles = [generate(model, tok, [p], [v], options)[0] for p, v in zip(prompts, visual, strict=True)]
    uncached = generate(model, tok, prompts, visual, DecodeOptions(max_new_tokens=8, use_cache=False))
    assert [c.ids for c in batched] == [c.ids for c in singles] == [c.ids for c in uncached]


def test_hf_parts_save_and_load(tmp_path):
    vision = VisionConfig.from_hf(VisionKind.SIGLIP, transformers.SiglipVisionConfig(**TINY_TOWER))
    model = build(vision, hf_language(LanguageKind.LLAMA))
    save(model, tokenizer(), tmp_path)
    loaded, tok = load(tmp_path)
    prompts, visual = mixed_batch(model)
    _, loaded_visual = mixed_batch(loaded)
    options = DecodeOptions(max_new_tokens=6)
    assert [c.ids for c in generate(model, tok, prompts, visual, options)] == [
        c.ids for c in generate(loaded, tok, prompts, loaded_visual, options)
    ]


def test_tower_weights_from_a_local_directory(tmp_path):
    hf = transformers.CLIPVisionConfig(**TINY_TOWER)
    torch.manual_seed(1)
    transformers.CLIPVisionModel(hf).save_pretrained(tmp_path)
    tower = HFVisionTower(VisionConfig.from_hf(VisionKind.CLIP, hf))
    tower.load_pretrained(tmp_path)
    reference = transformers.CLIPVisionModel.from_pretrained(tmp_path, local_files_only=True)
    for name, tensor in reference.state_dict().items():
        assert torch.equal(tower.model.state_dict()[name], tensor), name
