"""What differs between transformers VLM families, as one small class per family.

Design choices:
- A family is named by the checkpoint config's `model_type` values it serves (never by a model name), and
  says which transformers model and processor classes run it and which box dialect it writes.
- Prompt text comes from the checkpoint's own chat template and image placeholders are expanded by the
  family's own transformers processor, so placeholder counts are the model's by construction; a family only
  adds what transformers does not know: the pixels to hand the processor (`model_image`) and the view its
  box numbers refer to (`box_view`), both expressed as `View`s so `grounding` does the arithmetic.
- Families are stateless; methods take the loaded processor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from vlm_engine.backends.base import ImageInput
from vlm_engine.grounding import BoxDialect, GroundedBox, View, parse_boxes


class Family:
    name: ClassVar[str]
    model_types: ClassVar[tuple[str, ...]]
    model_class: ClassVar[str]  # a transformers class name
    processor_class: ClassVar[str]
    box_dialect: ClassVar[BoxDialect]

    def model_image(self, image: ImageInput, processor: Any) -> ImageInput:
        """The image to hand the processor, as a view of the same source (default: the image itself)."""
        return image

    def box_view(self, image: ImageInput, inputs: Mapping[str, Any], index: int, processor: Any) -> View:
        """The view whose pixels the model's box numbers are in, for `image` (the `model_image`), the
        `index`-th image of the processed batch `inputs`. Default: the image as handed over, which is right
        for dialects relative to the image (0-1000)."""
        return image.view

    def parse_boxes(self, text: str, view: View) -> list[GroundedBox]:
        """The boxes `text` states, in pixels of `view`."""
        return parse_boxes(text, self.box_dialect, view.width, view.height)
