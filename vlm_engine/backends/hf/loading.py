"""Load a transformers VLM and its processor, once per process.

Design choices:
- The family comes from the checkpoint config's `model_type`, and the family names the model and processor
  classes; an unknown type fails before any weight is read.
- The processor is the family's own transformers class built without its video processor. transformers 5
  cannot build a processor whose video processor needs torchvision when torchvision is missing, and this
  backend only sends images. The image processor is whichever backend transformers picks: torchvision where it
  is installed, PIL otherwise.
- CUDA: bfloat16 weights with SDPA attention; CPU: float32. The tokenizer pads on the left, as batched
  generation needs.
- Loaded models are cached per (checkpoint, device) for the life of the process. A hub id resolves from the
  local cache when HF_HUB_OFFLINE=1; nothing here asks for a download by itself.
"""

from __future__ import annotations

import inspect
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import transformers

from vlm_engine.backends.hf.families import Family, UnsupportedModelError, family_for

log = logging.getLogger(__name__)

_LOADED: dict[tuple[str, str], LoadedModel] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class LoadedModel:
    family: Family
    model: Any  # a transformers PreTrainedModel of the family's class, in eval mode
    processor: Any  # the family's transformers processor, image-only
    device: torch.device


def takes_video_processor(processor_class: type) -> bool:
    return "video_processor" in inspect.signature(processor_class.__init__).parameters


def image_only_processor_class(processor_class: type) -> type:
    """`processor_class` without its video processor, if it has one: it loads and runs with images and
    text only. Build it with `video_processor=None` (some processors take it without a default)."""
    if not takes_video_processor(processor_class):
        return processor_class

    class ImageOnly(processor_class):
        @classmethod
        def get_attributes(cls) -> list[str]:
            return [name for name in super().get_attributes() if name != "video_processor"]

    ImageOnly.__name__ = ImageOnly.__qualname__ = processor_class.__name__
    return ImageOnly


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load(checkpoint: str, device: str = "auto") -> LoadedModel:
    """The model and processor at `checkpoint` (a directory or a hub id), loaded on first use."""
    target = resolve_device(device)
    local = Path(checkpoint).expanduser()
    key = (str(local.resolve()) if local.is_dir() else checkpoint, str(target))
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = _load(key[0], target)
        return _LOADED[key]


def _load(checkpoint: str, device: torch.device) -> LoadedModel:
    config = transformers.AutoConfig.from_pretrained(checkpoint)
    family = family_for(config.model_type)
    processor_class = getattr(transformers, family.processor_class)
    no_video = {"video_processor": None} if takes_video_processor(processor_class) else {}
    processor = image_only_processor_class(processor_class).from_pretrained(checkpoint, **no_video)
    if not (processor.chat_template or processor.tokenizer.chat_template):
        raise UnsupportedModelError(f"{checkpoint} has no chat template: the hf backend serves chat models")
    processor.tokenizer.padding_side = "left"
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model_class = getattr(transformers, family.model_class)
    model = model_class.from_pretrained(checkpoint, config=config, dtype=dtype, attn_implementation="sdpa")
    model.to(device).eval()
    log.info("loaded %s (%s) on %s as %s", checkpoint, family.name, device, dtype)
    return LoadedModel(family, model, processor, device)
