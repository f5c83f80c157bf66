"""Idefics3 and SmolVLM (SmolVLM is Idefics3's architecture with its own processor).

Design choices:
- The processor resizes the long side, cuts the image into a grid of square tiles and adds the whole image
  resized as a global view; each tile's placeholders are wrapped in `<row_i_col_j>` tags, all written by the
  family's own processor, so nothing about the layout is repeated here.
- No box format of their own: they are asked for `BoxDialect.GENERIC` (0-1000 of the whole image).
"""

from __future__ import annotations

from vlm_engine.backends.hf.family import Family
from vlm_engine.grounding import BoxDialect


class Idefics3(Family):
    name = "idefics3"
    model_types = ("idefics3",)
    model_class = "Idefics3ForConditionalGeneration"
    processor_class = "Idefics3Processor"
    box_dialect = BoxDialect.GENERIC


class SmolVLM(Family):
    name = "smolvlm"
    model_types = ("smolvlm",)
    model_class = "SmolVLMForConditionalGeneration"
    processor_class = "SmolVLMProcessor"
    box_dialect = BoxDialect.GENERIC
