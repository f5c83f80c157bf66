"""Tiny random checkpoints of every hf family, built locally (no hub), and the OpenAI-compatible test server.

Each checkpoint is the family's real architecture from its config class with a few layers and tiny widths, a
BPE tokenizer trained here with the `tokenizers` library (wrapped as a PreTrainedTokenizerFast carrying the
family's special tokens), and the family's own transformers processor with the chat template the family's
released checkpoints ship. It is saved to a temp dir and loaded back by path, as a real checkpoint would be.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from tests.backends.openai_test_server import OpenAITestServer
from vlm_engine.backends.hf.loading import image_only_processor_class, takes_video_processor

CORPUS = [
    "The quick brown fox jumps over the lazy dog. Describe the image and find the box of the title.",
    "You are a helpful assistant. What is written in the picture? Where is the table? 0123456789",
    'system user assistant (12,34),(567,890) [{"bbox_2d": [1, 2, 3, 4], "label": "cat"}] <box></box>',
]

QWEN_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant."
    "<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{% set image_count.value = image_count.value + 1 %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% endif %}"
)
LLAVA_TEMPLATE = (  # llava-1.5-hf
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}"
    "{% endif %}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}"
    "{% endif %}"
)
LLAVA_NEXT_TEMPLATE = (  # llava-v1.6-mistral-hf
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ '<<SYS>>\n' + message['content'][0]['text'] + '\n<</SYS>>\n\n' }}{% elif message['role'] == 'user' %}"
    "{{ '[INST] ' }}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] }}{% endfor %}{{' [/INST]' }}{% endif %}{% endfor %}"
)
ONEVISION_TEMPLATE = (  # llava-onevision-qwen2-hf
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + ' '}}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ '\n' + content['text'] }}"
    "{% endfor %}{{'<|im_end|>'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}"
)
IDEFICS3_TEMPLATE = (  # Idefics3-8B-Llama3 and SmolVLM-Instruct
    "<|begin_of_text|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

QWEN_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
LLAMA_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
ONEVISION_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]
IDEFICS3_TOKENS = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<fake_token_around_image>",
    "<image>",
    "<global-img>",
    *(f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)),
]

PATCH = 14
TILE = 28  # vision tower input side: 2x2 patches
PINPOINTS = [[28, 28], [28, 56], [56, 28], [56, 56]]


def train_tokenizer(special: list[str], eos: str, pad: str, bos: str | None = None, unk: str | None = None):
    """A byte-level BPE trained on a few sentences, with the family's special tokens at the front."""
    tokenizer = Tokenizer(models.BPE(unk_token=unk))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS * 10, trainer)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token=eos, pad_token=pad, bos_token=bos, unk_token=unk
    )


def _text(model_type: str, tokenizer, **extra) -> dict:
    return {
        "model_type": model_type,
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 1024,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        **extra,
    }


def _clip() -> dict:
    return {
        "model_type": "clip_vision_model",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": TILE,
        "patch_size": PATCH,
        "projection_dim": 32,
    }


def _siglip() -> dict:
    return {
        "model_type": "siglip_vision_model",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": TILE,
        "patch_size": PATCH,
    }


def _idefics_vision(model_type: str) -> dict:
    return {
        "model_type": model_type,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": TILE,
        "patch_size": PATCH,
    }


def _processor(name: str, **parts: Any):
    processor_class = getattr(transformers, name)
    no_video = {"video_processor": None} if takes_video_processor(processor_class) else {}
    return image_only_processor_class(processor_class)(**parts, **no_video)


def _image_processor(name: str, **settings: Any):
    """The PIL image processor (no torchvision needed); the loaded checkpoint picks its own backend."""
    return getattr(transformers, f"{name}Pil")(**settings)


def build_qwen(model_type: str):
    tok = train_tokenizer(QWEN_TOKENS, eos="<|im_end|>", pad="<|endoftext|>")
    image_processor = _image_processor(
        "Qwen2VLImageProcessor", min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 16
    )
    processor_name = {"qwen2_vl": "Qwen2VLProcessor", "qwen2_5_vl": "Qwen2_5_VLProcessor"}[model_type]
    processor = _processor(
        processor_name, image_processor=image_processor, tokenizer=tok, chat_template=QWEN_TEMPLATE
    )
    rope = {"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 10000.0}
    if model_type == "qwen2_vl":
        vision = {"depth": 2, "embed_dim": 32, "hidden_size": 64, "num_heads": 2, "mlp_ratio": 2}
        config_class, model_class = transformers.Qwen2VLConfig, transformers.Qwen2VLForConditionalGeneration
    else:
        vision = {
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "out_hidden_size": 64,
            "num_heads": 2,
            "window_size": 56,
            "fullatt_block_indexes": [1],
        }
        config_class, model_class = (
            transformers.Qwen2_5_VLConfig,
            transformers.Qwen2_5_VLForConditionalGeneration,
        )
    config = config_class(
        text_config={
            k: v for k, v in _text(model_type, tok, rope_parameters=rope).items() if k != "model_type"
        },
        vision_config=vision,
        image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"),
    )
    return processor, model_class(config)


def build_llava():
    tok = train_tokenizer(LLAMA_TOKENS, eos="</s>", pad="<pad>", bos="<s>", unk="<unk>")
    image_processor = _image_processor(
        "CLIPImageProcessor", size={"shortest_edge": TILE}, crop_size={"height": TILE, "width": TILE}
    )
    processor = _processor(
        "LlavaProcessor",
        image_processor=image_processor,
        tokenizer=tok,
        patch_size=PATCH,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_TEMPLATE,
    )
    config = transformers.LlavaConfig(
        vision_config=_clip(),
        text_config=_text("llama", tok),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        image_seq_length=(TILE // PATCH) ** 2,
    )
    return processor, transformers.LlavaForConditionalGeneration(config)


def build_llava_next():
    tok = train_tokenizer(LLAMA_TOKENS, eos="</s>", pad="<pad>", bos="<s>", unk="<unk>")
    image_processor = _image_processor(
        "LlavaNextImageProcessor",
        size={"shortest_edge": TILE},
        crop_size={"height": TILE, "width": TILE},
        image_grid_pinpoints=PINPOINTS,
    )
    processor = _processor(
        "LlavaNextProcessor",
        image_processor=image_processor,
        tokenizer=tok,
        patch_size=PATCH,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_NEXT_TEMPLATE,
    )
    config = transformers.LlavaNextConfig(
        vision_config=_clip(),
        text_config=_text("llama", tok),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        image_grid_pinpoints=PINPOINTS,
    )
    return processor, transformers.LlavaNextForConditionalGeneration(config)


def build_llava_onevision():
    tok = train_tokenizer(ONEVISION_TOKENS, eos="<|im_end|>", pad="<|endoftext|>")
    image_processor = _image_processor(
        "LlavaOnevisionImageProcessor", size={"height": TILE, "width": TILE}, image_grid_pinpoints=PINPOINTS
    )
    processor = _processor(
        "LlavaOnevisionProcessor",
        image_processor=image_processor,
        tokenizer=tok,
        num_image_tokens=(TILE // PATCH) ** 2,
        vision_feature_select_strategy="full",
        chat_template=ONEVISION_TEMPLATE,
    )
    config = transformers.LlavaOnevisionConfig(
        vision_config=_siglip(),
        text_config=_text("qwen2", tok),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        video_token_index=tok.convert_tokens_to_ids("<video>"),
        image_grid_pinpoints=PINPOINTS,
    )
    return processor, transformers.LlavaOnevisionForConditionalGeneration(config)


def build_idefics(model_type: str):
    tok = train_tokenizer(
        [*IDEFICS3_TOKENS, "<pad>"], eos="<end_of_utterance>", pad="<pad>", bos="<|begin_of_text|>"
    )
    prefix = {"idefics3": "Idefics3", "smolvlm": "SmolVLM"}[model_type]
    image_processor = _image_processor(
        f"{prefix}ImageProcessor",
        size={"longest_edge": 2 * TILE},
        max_image_size={"longest_edge": TILE},
    )
    processor = _processor(
        f"{prefix}Processor",
        image_processor=image_processor,
        tokenizer=tok,
        image_seq_len=(TILE // PATCH) ** 2 // 4,
        chat_template=IDEFICS3_TEMPLATE,
    )
    config = getattr(transformers, f"{prefix}Config")(
        vision_config=_idefics_vision(f"{model_type}_vision"),
        text_config=_text("llama", tok),
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        scale_factor=2,
    )
    return processor, getattr(transformers, f"{prefix}ForConditionalGeneration")(config)


@dataclass(frozen=True)
class TinyFamily:
    model_type: str
    build: Callable[[], tuple[Any, Any]]


TINY_FAMILIES = {
    "qwen2_vl": TinyFamily("qwen2_vl", lambda: build_qwen("qwen2_vl")),
    "qwen2_5_vl": TinyFamily("qwen2_5_vl", lambda: build_qwen("qwen2_5_vl")),
    "llava": TinyFamily("llava", build_llava),
    "llava_next": TinyFamily("llava_next", build_llava_next),
    "llava_onevision": TinyFamily("llava_onevision", build_llava_onevision),
    "idefics3": TinyFamily("idefics3", lambda: build_idefics("idefics3")),
    "smolvlm": TinyFamily("smolvlm", lambda: build_idefics("smolvlm")),
}


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Callable[[str], Path]:
    """Build (once per session) and save the tiny checkpoint of a family; returns its directory."""
    built: dict[str, Path] = {}

    def get(model_type: str) -> Path:
        if model_type not in built:
            torch.manual_seed(0)
            processor, model = TINY_FAMILIES[model_type].build()
            path = tmp_path_factory.mktemp(model_type)
            model.eval().save_pretrained(path)
            processor.save_pretrained(path)
            built[model_type] = path
        return built[model_type]

    return get


@pytest.fixture
def openai_server() -> Iterator[OpenAITestServer]:
    with OpenAITestServer() as server:
        yield server
