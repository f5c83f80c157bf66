"""One directory = config.json + model.safetensors + tokenizer.json; `load` gives back the same model."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.model.synthetic import grounding_set, predicted_boxes, tiny_config, tokenizer
from vlm_engine.model.checkpoint import load, save
from vlm_engine.model.config import ProjectorKind
from vlm_engine.model.generate import DecodeOptions, generate
from vlm_engine.model.tokenizer import build_tokenizer, encode_prompt
from vlm_engine.model.vlm import SightlineVLM


@pytest.mark.parametrize("kind", [ProjectorKind.QFORMER, ProjectorKind.CROSS_ATTN])
def test_save_load_round_trip_gives_identical_outputs(tmp_path, kind):
    torch.manual_seed(0)
    model = SightlineVLM(tiny_config(kind)).eval()
    tok = tokenizer()
    save(model, tok, tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
    ]
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["projector"]["kind"] == kind.value
    loaded, loaded_tok = load(tmp_path / "ckpt")
    assert loaded.config == model.config and not loaded.training
    assert loaded_tok.tokenizer.to_str() == tok.tokenizer.to_str()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    samples = grounding_set(3)
    options = DecodeOptions(max_new_tokens=10)
    assert predicted_boxes(model, samples, options) == predicted_boxes(loaded, samples, options)
    images = [image for image, _ in samples]
    prompts = [encode_prompt(tok, "what is this?", [model.image_placeholders])] * 3
    with torch.inference_mode():
        before = generate(model, tok, prompts, list(model.encode_images(model.pixel_values(images))), options)
        after = generate(
            loaded, loaded_tok, prompts, list(loaded.encode_images(loaded.pixel_values(images))), options
        )
    assert [c.ids for c in before] == [c.ids for c in after]


def test_tied_weights_stay_tied(tmp_path):
    model = SightlineVLM(tiny_config())
    save(model, tokenizer(), tmp_path)
    loaded, _ = load(tmp_path)
    assert loaded.language.lm_head.weight.data_ptr() == loaded.language.embed_tokens.weight.data_ptr()


def test_load_is_strict(tmp_path):
    model = SightlineVLM(tiny_config())
    save(model, tokenizer(), tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    weights.pop(next(iter(weights)))
    save_file(weights, tmp_path / "model.safetensors")
    with pytest.raises(RuntimeError, match="Missing key"):
        load(tmp_path)


def test_mismatched_tokenizer_is_refused(tmp_path):
    small = tiny_config(vocab_size=len(tokenizer()) - 1)
    with pytest.raises(ValueError, match="tokenizer has"):
        save(SightlineVLM(small), tokenizer(), tmp_path)
    save(SightlineVLM(tiny_config()), tokenizer(), tmp_path)
    build_tokenizer(1024).save(tmp_path / "tokenizer.json")  # a bigger vocabulary than the model's
    with pytest.raises(ValueError, match="tokenizer has"):
        load(tmp_path)
