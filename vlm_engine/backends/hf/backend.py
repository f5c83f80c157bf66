"""`HFBackend`: batched generation with a transformers VLM, boxes returned in source units.

Design choices:
- A prompt becomes one chat turn (`chat.chat_messages`) rendered by the checkpoint's own chat template with
  one image placeholder per image; the family's processor then expands every placeholder to exactly the
  tokens the model expects. Placeholder tokens typed in a prompt's text are removed first (logged), so text can
  never shift the image/placeholder pairing.
- Batches pad on the left with attention masks; a long list of prompts runs in chunks of `max_batch_size`.
- Greedy when temperature is 0, else sampling with temperature and top-p (the checkpoint's top-k is dropped so
  the two knobs mean what they mean elsewhere); `seed` seeds torch before sampling. Stop strings end a
  sequence inside `generate` and are cut from the text, as in the OpenAI API. `constrain_boxes` is not
  supported here (ignored).
- Output ids are cut at the first end-of-sequence id and decoded with special tokens kept: some families
  write boxes with special tokens (Qwen2-VL's `<|box_start|>`).
- Boxes are parsed in the family's dialect in the family's box view of `images[ground_on]`, mapped to source
  units by `grounding`, and clipped to the source region of the image the caller gave (a padded canvas is
  wider than the image).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from vlm_engine.backends.base import Generation, GenerationConfig, ImageInput, Prompt, SourceBox
from vlm_engine.backends.chat import box_instruction, chat_messages
from vlm_engine.backends.hf.loading import LoadedModel, load
from vlm_engine.grounding import GroundedBox, View

log = logging.getLogger(__name__)

DEFAULT_CONFIG = GenerationConfig()

DEFAULT_MAX_BATCH_SIZE = 8


@dataclass(frozen=True)
class Encoded:
    """A processed batch and, per prompt, the images as handed to the processor."""

    inputs: Any  # transformers BatchFeature: input_ids, attention_mask, pixel values, ...
    images: tuple[tuple[ImageInput, ...], ...]

    def image_index(self, prompt: int, image: int) -> int:
        """The position of a prompt's image among all images of the batch."""
        return sum(len(images) for images in self.images[:prompt]) + image


class HFBackend:
    def __init__(self, loaded: LoadedModel, name: str, max_batch_size: int = DEFAULT_MAX_BATCH_SIZE):
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        self.name = name
        self.family = loaded.family
        self.box_dialect = loaded.family.box_dialect
        self.model = loaded.model
        self.processor = loaded.processor
        self.device = loaded.device
        self.max_batch_size = max_batch_size
        self._instruction = box_instruction(self.box_dialect)
        eos = self.model.generation_config.eos_token_id
        eos = self.processor.tokenizer.eos_token_id if eos is None else eos
        self._eos_ids = frozenset([eos] if isinstance(eos, int) else eos)
        pad = self.model.generation_config.pad_token_id
        pad = self.processor.tokenizer.pad_token_id if pad is None else pad
        self._pad_id = min(self._eos_ids) if pad is None else pad

    @classmethod
    def from_pretrained(
        cls, model: str, device: str = "auto", max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    ) -> HFBackend:
        """The backend for a checkpoint directory or hub id; the model loads once per process."""
        return cls(load(model, device), name=model, max_batch_size=max_batch_size)

    def generate(
        self, prompts: Sequence[Prompt], config: GenerationConfig = DEFAULT_CONFIG
    ) -> list[Generation]:
        out: list[Generation] = []
        for start in range(0, len(prompts), self.max_batch_size):
            out.extend(self._generate_batch(prompts[start : start + self.max_batch_size], config))
        return out

    def encode(self, prompts: Sequence[Prompt]) -> Encoded:
        """The processed batch for `prompts`: chat template, placeholders expanded, pixels, left padding."""
        images = tuple(
            tuple(self.family.model_image(image, self.processor) for image in prompt.images)
            for prompt in prompts
        )
        texts = [self._render(prompt) for prompt in prompts]
        pil_images = [[Image.fromarray(image.pixels) for image in row] for row in images]
        bos = self.processor.tokenizer.bos_token
        inputs = self.processor(
            text=texts,
            images=pil_images if any(pil_images) else None,
            padding=True,
            return_tensors="pt",
            add_special_tokens=not (bos and texts[0].startswith(bos)),  # the template may write BOS itself
        )
        return Encoded(inputs, images)

    def source_boxes(self, text: str, prompt: Prompt, encoded: Encoded, index: int) -> tuple[SourceBox, ...]:
        """The boxes `text` states about prompt `index` of `encoded`, in source units."""
        if not prompt.images:
            return ()
        fed = encoded.images[index][prompt.ground_on]
        view = self.family.box_view(
            fed, encoded.inputs, encoded.image_index(index, prompt.ground_on), self.processor
        )
        return boxes_in_source(self.family.parse_boxes(text, view), view, prompt.images[prompt.ground_on])

    def _render(self, prompt: Prompt) -> str:
        messages = chat_messages(
            prompt, lambda _: {"type": "image"}, self._instruction, text=self._sanitise(prompt.text)
        )
        return self.processor.tokenizer.apply_chat_template(
            messages, chat_template=self.processor.chat_template, tokenize=False, add_generation_prompt=True
        )

    def _sanitise(self, text: str) -> str:
        for token in self.processor.all_special_multimodal_tokens:
            if token in text:
                log.warning("removed the placeholder token %r from a prompt's text", token)
                text = text.replace(token, "")
        return text

    def _generate_batch(self, prompts: Sequence[Prompt], config: GenerationConfig) -> list[Generation]:
        started = time.perf_counter()
        encoded = self.encode(prompts)
        inputs = encoded.inputs.to(device=self.device, dtype=self.model.dtype)
        if config.seed is not None:
            torch.manual_seed(config.seed)
        with torch.inference_mode():
            sequences = self.model.generate(
                **inputs,
                generation_config=self._generation_config(config),
                tokenizer=self.processor.tokenizer,
            )
        new_tokens = sequences[:, inputs["input_ids"].shape[1] :].tolist()
        latency_ms = (time.perf_counter() - started) * 1000
        image_token_id = self.processor.image_token_id
        out = []
        for i, (prompt, ids) in enumerate(zip(prompts, new_tokens, strict=True)):
            text, completion_tokens, finish_reason = self._decode(ids, config.stop)
            out.append(
                Generation(
                    text=text,
                    boxes=self.source_boxes(text, prompt, encoded, i),
                    prompt_tokens=int(inputs["attention_mask"][i].sum()),
                    completion_tokens=completion_tokens,
                    visual_tokens=int((inputs["input_ids"][i] == image_token_id).sum()),
                    finish_reason=finish_reason,
                    latency_ms=latency_ms,
                    extra={"family": self.family.name},
                )
            )
        return out

    def _generation_config(self, config: GenerationConfig) -> Any:
        settings = copy.deepcopy(self.model.generation_config)
        settings.max_new_tokens = config.max_new_tokens
        settings.do_sample = config.temperature > 0
        settings.temperature = config.temperature if settings.do_sample else None
        settings.top_p = config.top_p if settings.do_sample else None
        settings.top_k = None
        settings.stop_strings = list(config.stop) or None
        settings.eos_token_id = sorted(self._eos_ids)
        settings.pad_token_id = self._pad_id
        return settings

    def _decode(self, ids: list[int], stop: Sequence[str]) -> tuple[str, int, str]:
        """Text, completion token count and finish reason of one row of generated ids."""
        for n, token in enumerate(ids):
            if token in self._eos_ids:
                finish_reason, count = "stop", n + 1
                ids = ids[:n]
                break
        else:  # a row a stop string ended early was padded while the others went on
            finish_reason, count = "length", len(ids)
            while count and ids[count - 1] == self._pad_id:
                count -= 1
            ids = ids[:count]
        text = self.processor.tokenizer.decode(ids, skip_special_tokens=False)
        cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
        if cut >= 0:
            text, finish_reason = text[:cut], "stop"
        return text, count, finish_reason


def boxes_in_source(grounded: Sequence[GroundedBox], view: View, image: ImageInput) -> tuple[SourceBox, ...]:
    """Boxes in `view` pixels mapped to source units and clipped to the source region `image` shows."""
    region = image.view.source_region
    out = []
    for item in grounded:
        clipped = view.box_to_source(item.box).intersection(region)
        if clipped is not None:
            out.append(SourceBox(clipped, item.label))
    return tuple(out)
