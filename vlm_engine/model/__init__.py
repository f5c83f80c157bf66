"""Sightline's own VLM: vision encoder -> projector -> language model, with box tokens in the vocabulary.

config.py          frozen dataclass configs, strict JSON (VLMConfig and its parts)
vit.py             own ViT; 2D position embeddings resized to any patch grid
hf.py              transformers vision towers (CLIP, SigLIP, DINOv2) and causal LMs (Llama, Qwen2)
projector.py       mlp | pixel_shuffle_mlp | qformer | cross_attn, one builder
decoder.py         own decoder: RoPE, RMSNorm, SwiGLU, grouped-query attention, KV cache
vlm.py             SightlineVLM: wiring, visual-token merge, loss
tokenizer.py       byte-level BPE trained locally + special tokens; the prompt template
generate.py        batched generation (left padding, KV cache, sampling, stop strings)
box_constraint.py  decoding constrained to valid box syntax
checkpoint.py      save/load one directory: config.json + model.safetensors + tokenizer.json
"""

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
from vlm_engine.model.generate import Completion, DecodeOptions, generate
from vlm_engine.model.tokenizer import SightlineTokenizer, build_tokenizer, encode_example, encode_prompt
from vlm_engine.model.vlm import SightlineVLM

__all__ = [
    "Completion",
    "DecodeOptions",
    "LanguageConfig",
    "LanguageKind",
    "ProjectorConfig",
    "ProjectorKind",
    "SightlineTokenizer",
    "SightlineVLM",
    "VLMConfig",
    "VisionConfig",
    "VisionKind",
    "build_tokenizer",
    "encode_example",
    "encode_prompt",
    "generate",
    "load",
    "save",
]
