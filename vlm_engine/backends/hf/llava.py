"""LLaVA 1.5, LLaVA-NeXT (1.6) and LLaVA-OneVision.

Design choices:
- None of them has a box format of its own: they are asked for `BoxDialect.GENERIC` (0-1000 of the image)
  by the instruction in `chat`, and their boxes are read relative to the whole image they were shown.
- LLaVA 1.5 sees one square: the transformers processor resizes the short side and center-crops (or pads, with
  `do_pad`), so a crop would hide the image's edges from the model and its boxes would be in crop units. The
  image is padded to a square with the processor's mean colour first, as LLaVA 1.5 was trained ("pad"); the
  processor's crop then cuts nothing, and the padded square is a `View` of the source like any other.
- LLaVA-NeXT and OneVision see the whole image (any-resolution tiles whose padding the model removes, plus
  an overview), so the image goes in as it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vlm_engine.backends.base import ImageInput
from vlm_engine.backends.hf.family import Family
from vlm_engine.grounding import Box, BoxDialect


def pad_to_square(image: ImageInput, fill: np.ndarray) -> ImageInput:
    """`image` centred on a square canvas of `fill` colour, with the view of the canvas."""
    height, width = image.pixels.shape[:2]
    side = max(width, height)
    left, top = (side - width) // 2, (side - height) // 2
    canvas = np.empty((side, side, 3), np.uint8)
    canvas[:] = fill
    canvas[top : top + height, left : left + width] = image.pixels
    return ImageInput(canvas, image.view.sub_view(Box(-left, -top, side - left, side - top), side, side))


class Llava(Family):
    name = "llava"
    model_types = ("llava",)
    model_class = "LlavaForConditionalGeneration"
    processor_class = "LlavaProcessor"
    box_dialect = BoxDialect.GENERIC

    def model_image(self, image: ImageInput, processor: Any) -> ImageInput:
        settings = processor.image_processor
        height, width = image.pixels.shape[:2]
        cuts_or_pads = getattr(settings, "do_center_crop", False) or getattr(settings, "do_pad", False)
        if width == height or not cuts_or_pads:
            return image
        fill = np.clip(np.round(np.asarray(settings.image_mean) * 255), 0, 255).astype(np.uint8)
        return pad_to_square(image, fill)


class LlavaNext(Family):
    name = "llava_next"
    model_types = ("llava_next",)
    model_class = "LlavaNextForConditionalGeneration"
    processor_class = "LlavaNextProcessor"
    box_dialect = BoxDialect.GENERIC


class LlavaOnevision(Family):
    name = "llava_onevision"
    model_types = ("llava_onevision",)
    model_class = "LlavaOnevisionForConditionalGeneration"
    processor_class = "LlavaOnevisionProcessor"
    box_dialect = BoxDialect.GENERIC
