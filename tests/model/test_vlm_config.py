"""Config JSON round trips, strict loading, and the consistency checks of transformers components."""

from __future__ import annotations

import copy
import json

import pytest
import transformers

from tests.model.synthetic import tiny_config
from vlm_engine.model.config import (
    ConfigError,
    LanguageConfig,
    LanguageKind,
    PatchStem,
    ProjectorConfig,
    ProjectorKind,
    VisionConfig,
    VisionKind,
    VLMConfig,
)


@pytest.mark.parametrize("kind", list(ProjectorKind))
def test_json_round_trip(tmp_path, kind):
    config = tiny_config(kind)
    config.save(tmp_path / "config.json")
    loaded = VLMConfig.load(tmp_path / "config.json")
    assert loaded == config
    assert isinstance(loaded.vision.image_mean, tuple)
    assert loaded.projector.kind is kind


def test_hf_components_round_trip(tmp_path):
    vision = VisionConfig.from_hf(
        VisionKind.CLIP,
        transformers.CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),
        feature_layer=-2,
    )
    language = LanguageConfig.from_hf(
        LanguageKind.QWEN2,
        transformers.Qwen2Config(
            vocab_size=1500,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
        ),
    )
    config = VLMConfig(vision=vision, projector=ProjectorConfig(), language=language)
    config.save(tmp_path / "config.json")
    assert VLMConfig.load(tmp_path / "config.json") == config
    assert config.vision.num_layers == 2 and config.language.vocab_size == 1500


def test_loading_never_mutates_the_input():
    data = tiny_config(ProjectorKind.QFORMER).to_dict()
    before = copy.deepcopy(data)
    VLMConfig.from_dict(data)
    assert data == before


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("vision", "colour"), 3, "unknown field"),
        (("surprise",), {}, "unknown field"),
        (("projector", "kind"), "perceiver", "unknown ProjectorKind"),
        (("language", "kind"), "gpt2", "unknown LanguageKind"),
        (("language", "hidden_size"), 64.0, "expected int"),
        (("language", "tie_embeddings"), 1, "expected bool"),
        (("vision", "num_layers"), True, "expected int"),
        (("vision", "image_mean"), [0.5, 0.5], "list of 3"),
        (("vision", "mlp_ratio"), "4", "expected a number"),
        (("vision", "stem"), "resnet", "unknown PatchStem"),
        (("vision",), [], "expected an object"),
    ],
)
def test_strict_loading_raises(path, value, message):
    data = tiny_config().to_dict()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ConfigError, match=message):
        VLMConfig.from_dict(json.loads(json.dumps(data)))


def test_inconsistent_configs_raise():
    with pytest.raises(ConfigError, match="multiple of patch_size"):
        VisionConfig(image_size=30, patch_size=8)
    with pytest.raises(ConfigError, match="needs hf_config"):
        VisionConfig(kind=VisionKind.SIGLIP)
    with pytest.raises(ConfigError, match="power-of-two patch size"):
        VisionConfig(image_size=48, patch_size=6, stem=PatchStem.CONV)
    with pytest.raises(ConfigError, match="disagrees with hf_config"):
        LanguageConfig(
            kind=LanguageKind.LLAMA,
            hf_config={"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 99},
        )
    hf_lm = LanguageConfig.from_hf(
        LanguageKind.LLAMA,
        transformers.LlamaConfig(
            vocab_size=100,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=4,
            num_key_value_heads=2,
        ),
    )
    with pytest.raises(ConfigError, match="needs the own decoder"):
        VLMConfig(projector=ProjectorConfig(kind=ProjectorKind.CROSS_ATTN), language=hf_lm)
    with pytest.raises(ConfigError, match="shuffle_factor"):
        VLMConfig(
            vision=VisionConfig(image_size=24, patch_size=8, hidden_size=32, num_heads=2),
            projector=ProjectorConfig(kind=ProjectorKind.PIXEL_SHUFFLE_MLP, shuffle_factor=2),
        )


def test_a_config_saved_before_the_stem_existed_loads_with_the_patch_stem():
    data = tiny_config().to_dict()
    del data["vision"]["stem"]
    assert VLMConfig.from_dict(data).vision.stem is PatchStem.PATCH
    assert VisionConfig(stem="conv").stem is PatchStem.CONV


def test_configs_are_frozen():
    config = tiny_config()
    with pytest.raises(AttributeError):
        config.vision.image_size = 64  # type: ignore[misc]
