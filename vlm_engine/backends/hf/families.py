"""The supported families, looked up by the checkpoint config's `model_type`.

An unknown `model_type` raises `UnsupportedModelError` naming the supported ones: a code path is never
guessed from a model's name.
"""

from __future__ import annotations

from vlm_engine.backends.hf.family import Family
from vlm_engine.backends.hf.idefics import Idefics3, SmolVLM
from vlm_engine.backends.hf.llava import Llava, LlavaNext, LlavaOnevision
from vlm_engine.backends.hf.qwen import Qwen2_5VL, Qwen2VL

FAMILIES: tuple[Family, ...] = (
    Qwen2VL(),
    Qwen2_5VL(),
    Llava(),
    LlavaNext(),
    LlavaOnevision(),
    Idefics3(),
    SmolVLM(),
)
_BY_MODEL_TYPE = {model_type: family for family in FAMILIES for model_type in family.model_types}


class UnsupportedModelError(ValueError):
    """The checkpoint's architecture is not one the hf backend adapts."""


def family_for(model_type: str) -> Family:
    try:
        return _BY_MODEL_TYPE[model_type]
    except KeyError:
        supported = ", ".join(sorted(_BY_MODEL_TYPE))
        raise UnsupportedModelError(
            f"the hf backend does not support model_type {model_type!r}; supported: {supported}"
        ) from None
