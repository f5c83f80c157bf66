"""Qwen2-VL and Qwen2.5-VL.

Design choices:
- Both resize every image to multiples of patch_size * merge_size (their "smart resize"); the processor's
  `image_grid_thw` (patches per side) is the resized input, so the box view is the image at that size.
- Qwen2-VL writes `<|object_ref_start|>label<|object_ref_end|><|box_start|>(x0,y0),(x1,y1)<|box_end|>` on
  0-1000: `BoxDialect.QWEN2_VL`.
- Qwen2.5-VL writes JSON `bbox_2d` in absolute pixels of the resized input: the box view's size is exactly
  that input's, so `grounding` maps the numbers back through the resize and the image's own view.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vlm_engine.backends.base import ImageInput
from vlm_engine.backends.hf.family import Family
from vlm_engine.grounding import Box, BoxDialect, View


class _QwenFamily(Family):
    def box_view(self, image: ImageInput, inputs: Mapping[str, Any], index: int, processor: Any) -> View:
        _, rows, cols = (int(v) for v in inputs["image_grid_thw"][index])
        patch = processor.image_processor.patch_size
        height, width = image.pixels.shape[:2]
        return image.view.sub_view(Box(0, 0, width, height), cols * patch, rows * patch)


class Qwen2VL(_QwenFamily):
    name = "qwen2_vl"
    model_types = ("qwen2_vl",)
    model_class = "Qwen2VLForConditionalGeneration"
    processor_class = "Qwen2VLProcessor"
    box_dialect = BoxDialect.QWEN2_VL


class Qwen2_5VL(_QwenFamily):
    name = "qwen2_5_vl"
    model_types = ("qwen2_5_vl",)
    model_class = "Qwen2_5_VLForConditionalGeneration"
    processor_class = "Qwen2_5_VLProcessor"
    box_dialect = BoxDialect.QWEN2_5_VL
