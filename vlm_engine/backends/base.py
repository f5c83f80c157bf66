"""The one interface every model backend implements: batched generation over prompts with images.

Design choices:
- A prompt carries its images as `ImageInput`s: pixels plus the `View` that maps them to the source. The
  backend parses the boxes its model writes (in that model family's dialect) and returns them already
  mapped to source units through `grounding`, so callers never see a dialect or a resized-input pixel.
- Boxes a model states refer to `images[ground_on]` (default: the first image).
- `generate` takes a batch; backends batch for real (padding + attention masks), remote ones concurrently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from vlm_engine.grounding import Box, BoxDialect, View


@dataclass(frozen=True, eq=False)
class ImageInput:
    pixels: np.ndarray  # (height, width, 3) uint8 RGB
    view: View  # pixels -> source units

    @classmethod
    def whole(cls, pixels: np.ndarray) -> ImageInput:
        """An image that is its own source (a photo, a frame): the view is the identity."""
        height, width = pixels.shape[:2]
        return cls(pixels, View(width, height))

    @property
    def cache_key(self) -> str:
        """Content hash + geometry: equal keys mean equal visual features (the vision cache uses it)."""
        digest = hashlib.blake2b(np.ascontiguousarray(self.pixels).data, digest_size=16).hexdigest()
        return f"{digest}:{self.pixels.shape[1]}x{self.pixels.shape[0]}"


@dataclass(frozen=True)
class Prompt:
    text: str
    images: tuple[ImageInput, ...] = ()
    system: str | None = None
    ground_on: int = 0  # the image whose coordinates the model's boxes are in


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = 128
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # decoding restricted to valid box syntax where the backend can (the own model: every <box> it opens
    # holds four ordered locations and closes; without it the tiny model cut 41 of 100 boxes short)
    constrain_boxes: bool = True


@dataclass(frozen=True)
class SourceBox:
    box: Box  # source units
    label: str = ""


@dataclass(frozen=True)
class Generation:
    text: str
    boxes: tuple[SourceBox, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    visual_tokens: int = 0
    finish_reason: str = "stop"  # "stop" | "length"
    latency_ms: float = 0.0
    extra: dict = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    name: str  # what produced the answers (model id or path), stored with results
    box_dialect: BoxDialect

    def generate(
        self, prompts: Sequence[Prompt], config: GenerationConfig = GenerationConfig()
    ) -> list[Generation]:
        """One Generation per prompt, in order."""
        ...
