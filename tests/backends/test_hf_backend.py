"""The hf backend's generation contract on tiny checkpoints: family choice, loading once, batching with left
padding, greedy and seeded sampling, max_new_tokens, stop strings, end of sequence, placeholder hygiene."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
import torch
import transformers

from vlm_engine.backends.base import GenerationConfig, ImageInput, Prompt
from vlm_engine.backends.hf.families import UnsupportedModelError
from vlm_engine.backends.registry import load_backend


@pytest.fixture(scope="module")
def qwen(tiny_checkpoint):
    return load_backend("hf", str(tiny_checkpoint("qwen2_vl")), device="cpu")


def _image(height: int, width: int, seed: int) -> ImageInput:
    return ImageInput.whole(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


PROMPTS = [
    Prompt("What is in the picture?", (_image(60, 100, 0),)),
    Prompt("Describe the image and find the box of the title, please, in detail.", (_image(90, 40, 1),)),
    Prompt("Say hello."),
]


def test_unknown_model_type_is_a_clear_error(tmp_path):
    transformers.GPT2Config(n_layer=1, n_embd=8, n_head=2).save_pretrained(tmp_path)
    with pytest.raises(UnsupportedModelError, match=r"'gpt2'.*supported: .*qwen2_vl"):
        load_backend("hf", str(tmp_path), device="cpu")


def test_a_checkpoint_without_a_chat_template_is_refused(tiny_checkpoint, tmp_path):
    base = tmp_path / "base-model"
    shutil.copytree(tiny_checkpoint("qwen2_vl"), base)
    (base / "chat_template.jinja").unlink()
    with pytest.raises(UnsupportedModelError, match="no chat template"):
        load_backend("hf", str(base), device="cpu")


def test_family_comes_from_the_config_not_the_name(tiny_checkpoint, tmp_path):
    misleading = tmp_path / "Qwen2-VL-7B-Instruct"
    shutil.copytree(tiny_checkpoint("llava"), misleading)
    assert load_backend("hf", str(misleading), device="cpu").family.name == "llava"


def test_a_model_loads_once_per_process(qwen, tiny_checkpoint):
    again = load_backend("hf", str(tiny_checkpoint("qwen2_vl")), device="cpu", max_batch_size=1)
    assert again.model is qwen.model and again.processor is qwen.processor


@pytest.mark.parametrize("model_type", ["qwen2_vl", "llava_next"])
def test_a_left_padded_batch_generates_what_each_prompt_does_alone(tiny_checkpoint, model_type):
    backend = load_backend("hf", str(tiny_checkpoint(model_type)), device="cpu")
    config = GenerationConfig(max_new_tokens=5)
    together = backend.generate(PROMPTS, config)
    alone = [backend.generate([prompt], config)[0] for prompt in PROMPTS]
    assert [g.text for g in together] == [g.text for g in alone]
    assert [g.prompt_tokens for g in together] == [g.prompt_tokens for g in alone]


def test_batches_larger_than_max_batch_size_run_in_chunks(tiny_checkpoint, qwen):
    small = load_backend("hf", str(tiny_checkpoint("qwen2_vl")), device="cpu", max_batch_size=2)
    config = GenerationConfig(max_new_tokens=3)
    assert [g.text for g in small.generate(PROMPTS, config)] == [
        g.text for g in qwen.generate(PROMPTS, config)
    ]


def test_max_new_tokens_ends_with_length(qwen):
    (generation,) = qwen.generate(PROMPTS[:1], GenerationConfig(max_new_tokens=3))
    assert generation.completion_tokens == 3 and generation.finish_reason == "length"


def test_end_of_sequence_ends_generation(qwen):
    eos = qwen.processor.tokenizer.eos_token_id

    def always_eos(module, args, logits):
        logits = logits.clone()
        logits[..., eos] = logits.max() + 100
        return logits

    hook = qwen.model.lm_head.register_forward_hook(always_eos)
    try:
        (generation,) = qwen.generate(PROMPTS[:1], GenerationConfig(max_new_tokens=8))
    finally:
        hook.remove()
    assert (generation.text, generation.completion_tokens, generation.finish_reason) == ("", 1, "stop")


def test_a_stop_string_cuts_the_text_where_it_starts(qwen):
    (free,) = qwen.generate(PROMPTS[:1], GenerationConfig(max_new_tokens=12))
    start = next(i for i, ch in enumerate(free.text) if i > 0 and ch.isascii() and ch.isalnum())
    (stopped,) = qwen.generate(PROMPTS[:1], GenerationConfig(max_new_tokens=12, stop=(free.text[start],)))
    assert stopped.text == free.text[: free.text.index(free.text[start])]
    assert stopped.finish_reason == "stop"


def test_greedy_is_deterministic_and_seeded_sampling_reproducible(qwen):
    greedy = GenerationConfig(max_new_tokens=6)
    assert [g.text for g in qwen.generate(PROMPTS[:2], greedy)] == [
        g.text for g in qwen.generate(PROMPTS[:2], greedy)
    ]
    sampling = GenerationConfig(max_new_tokens=6, temperature=1.5, top_p=0.95, seed=7)
    first = [g.text for g in qwen.generate(PROMPTS[:2], sampling)]
    torch.manual_seed(123)  # the seed, not the global state before the call, decides
    assert [g.text for g in qwen.generate(PROMPTS[:2], sampling)] == first


def test_placeholder_tokens_typed_in_a_prompt_are_removed(qwen, caplog):
    token = qwen.processor.image_token
    clean = Prompt("Look at this.", (_image(60, 100, 0),))
    typed = Prompt(f"Look {token}at {token}this.", (_image(60, 100, 0),))
    with caplog.at_level(logging.WARNING):
        encoded = qwen.encode([typed])
    assert "placeholder token" in caplog.text
    assert encoded.inputs["input_ids"].tolist() == qwen.encode([clean]).inputs["input_ids"].tolist()
