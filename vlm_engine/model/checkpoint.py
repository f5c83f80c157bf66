"""One checkpoint = one directory: config.json + model.safetensors + tokenizer.json; `load(dir)` in one call.

Design choices:
- safetensors only (no pickle): loading a checkpoint never runs code. Tied weights are stored once
  (`save_model` / `load_model` handle the sharing) and loading is strict: a missing or extra tensor raises.
- The tokenizer is checked against the config (the `<image>` id, the vocabulary size), so a checkpoint
  whose parts drifted apart fails at load time, not as garbage at generation time.
- Device and precision are chosen at load: float32 on CPU, bfloat16 on CUDA where the GPU supports it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_model, save_model

from vlm_engine.model.config import VLMConfig
from vlm_engine.model.tokenizer import SightlineTokenizer
from vlm_engine.model.vlm import SightlineVLM

CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE = "config.json", "model.safetensors", "tokenizer.json"


def default_dtype(device: str | torch.device) -> torch.dtype:
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def check_compatible(config: VLMConfig, tokenizer: SightlineTokenizer) -> None:
    if tokenizer.image_id != config.image_token_id:
        raise ValueError(f"tokenizer's <image> id {tokenizer.image_id} != config's {config.image_token_id}")
    if len(tokenizer) > config.language.vocab_size:
        raise ValueError(
            f"tokenizer has {len(tokenizer)} tokens, the model only {config.language.vocab_size}"
        )


def save(model: SightlineVLM, tokenizer: SightlineTokenizer, directory: str | Path) -> Path:
    check_compatible(model.config, tokenizer)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.config.save(directory / CONFIG_FILE)
    save_model(model, str(directory / WEIGHTS_FILE))
    tokenizer.save(directory / TOKENIZER_FILE)
    return directory


def load(
    directory: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> tuple[SightlineVLM, SightlineTokenizer]:
    """The model (in eval mode, on `device`) and its tokenizer from a directory written by `save`."""
    directory = Path(directory)
    config = VLMConfig.load(directory / CONFIG_FILE)
    tokenizer = SightlineTokenizer.from_file(directory / TOKENIZER_FILE)
    check_compatible(config, tokenizer)
    model = SightlineVLM(config)
    load_model(model, str(directory / WEIGHTS_FILE), strict=True)
    model = model.to(device=device, dtype=default_dtype(device) if dtype is None else dtype)
    return model.eval(), tokenizer
