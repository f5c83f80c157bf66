"""The parts: projector token counts, ViT position interpolation, Flamingo gates, the builders."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tests.model.synthetic import grounding_set, tiny_config, tokenizer
from vlm_engine.model.config import ConfigError, PatchStem, ProjectorConfig, ProjectorKind, VisionConfig
from vlm_engine.model.projector import build_vision_projector
from vlm_engine.model.tokenizer import encode_prompt
from vlm_engine.model.vit import ViT, sincos_2d
from vlm_engine.model.vlm import SightlineVLM, build_language_model, build_vision_encoder

IMAGES = [image for image, _ in grounding_set(2)]


@pytest.mark.parametrize(
    ("kind", "tokens", "placeholders"),
    [
        (ProjectorKind.MLP, 16, 16),  # 4 x 4 patches
        (ProjectorKind.PIXEL_SHUFFLE_MLP, 4, 4),  # 2 x 2 patches merged
        (ProjectorKind.QFORMER, 8, 8),  # the learned queries
        (ProjectorKind.CROSS_ATTN, 16, 0),  # media for cross-attention: nothing in the context
    ],
)
def test_visual_tokens_per_projector(kind, tokens, placeholders):
    model = SightlineVLM(tiny_config(kind)).eval()
    with torch.inference_mode():
        encoded = model.encode_images(model.pixel_values(IMAGES))
    assert encoded.shape == (2, tokens, model.config.language.hidden_size)
    assert model.visual_tokens_per_image == tokens and model.image_placeholders == placeholders


def test_cross_attention_starts_as_the_plain_language_model():
    torch.manual_seed(0)
    model = SightlineVLM(tiny_config(ProjectorKind.CROSS_ATTN)).eval()
    tok = tokenizer()
    ids = torch.tensor([encode_prompt(tok, "where is the square?", [0])])
    with torch.inference_mode():
        media = model.encode_images(model.pixel_values(IMAGES[:1]))
        with_image = model(ids, [media[0]])
        without = model(ids, [media[0][:0]])
        plain = model.language(model.language.embed(ids))
    assert torch.equal(with_image, plain) and torch.equal(without, plain)
    with torch.no_grad():
        for layer in model.projector.layers:
            layer.attn_gate.fill_(1.0)
        assert not torch.allclose(model(ids, [media[0]]), plain)


def test_vit_interpolates_positions_to_any_grid():
    config = VisionConfig(image_size=32, patch_size=8, hidden_size=32, num_layers=2, num_heads=2)
    vit = ViT(config).eval()
    assert torch.equal(vit.position_embeddings(4, 4), vit.pos_embed)
    assert torch.allclose(vit.pos_embed[0], sincos_2d(4, 4, 32))
    with torch.inference_mode():
        features, grid = vit(torch.randn(2, 3, 48, 64))
    assert grid == (6, 8) and features.shape == (2, 48, 32)
    with pytest.raises(ValueError, match="multiple of the patch size"):
        vit(torch.randn(1, 3, 30, 32))


@pytest.mark.parametrize(("stem", "sees_the_neighbour"), [(PatchStem.PATCH, False), (PatchStem.CONV, True)])
def test_the_conv_stem_keeps_the_grid_and_sees_past_its_patch(stem, sees_the_neighbour):
    torch.manual_seed(0)
    vit = ViT(VisionConfig(image_size=32, patch_size=8, hidden_size=32, num_layers=1, num_heads=2, stem=stem))
    pixels = torch.randn(1, 3, 48, 64)
    with torch.inference_mode():
        features, grid = vit(pixels)
        first = vit.patch_embed(pixels)
        nudged = pixels.clone()
        nudged[..., 3, 9] += 1.0  # a pixel of the patch to the right of patch (0, 0)
        second = vit.patch_embed(nudged)
    assert grid == (6, 8) and features.shape == (1, 48, 32) and first.shape == (1, 32, 6, 8)
    assert (not torch.equal(first[..., 0, 0], second[..., 0, 0])) == sees_the_neighbour


def test_vit_feature_layer_drops_later_blocks():
    vit = ViT(
        VisionConfig(image_size=32, patch_size=8, hidden_size=32, num_layers=3, num_heads=2, feature_layer=-2)
    )
    assert len(vit.blocks) == 2 and isinstance(vit.norm, torch.nn.Identity)


def test_a_tile_of_another_size_flows_through_the_vlm():
    model = SightlineVLM(tiny_config(ProjectorKind.PIXEL_SHUFFLE_MLP)).eval()
    with torch.inference_mode():
        encoded = model.encode_images(torch.randn(1, 3, 64, 48))
    assert encoded.shape[1] == (8 // 2) * (6 // 2)


def test_builders_raise_on_unknown_types():
    with pytest.raises(ConfigError, match="unknown ProjectorKind"):
        ProjectorConfig(kind="perceiver")
    vision = tiny_config().vision
    with pytest.raises(ValueError, match="unknown projector type"):
        build_vision_projector(SimpleNamespace(kind="perceiver"), vision, 64, 2)
    with pytest.raises(ValueError, match="unknown vision encoder type"):
        build_vision_encoder(SimpleNamespace(kind="resnet"))
    with pytest.raises(ValueError, match="unknown language model type"):
        build_language_model(SimpleNamespace(kind="rnn"))
    assert ProjectorConfig(kind="qformer").kind is ProjectorKind.QFORMER


def test_decoder_uses_grouped_query_attention():
    model = SightlineVLM(tiny_config())
    attn = model.language.blocks[0].attn
    assert attn.k.out_features == attn.v.out_features == 2 * attn.head_dim  # 2 kv heads for 4 query heads
    assert attn.q.out_features == 4 * attn.head_dim
