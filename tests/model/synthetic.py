"""Tiny configs, a synthetic grounding set and a short training loop, shared by the model and backend tests.

The set: small images with one coloured square at a random place; the question "where is the square?";
the answer the square's box in the Sightline dialect (`<box><loc_x0><loc_y0><loc_x1><loc_y1></box>`),
written by `grounding.format_box`. The prompt is the same for every sample, so the only way to answer is to
read the image: a model that overfits this set has a working image pathway through its projector.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from vlm_engine.grounding import Box, BoxDialect, format_box, parse_boxes
from vlm_engine.model.config import LanguageConfig, ProjectorConfig, ProjectorKind, VisionConfig, VLMConfig
from vlm_engine.model.generate import DecodeOptions, generate
from vlm_engine.model.tokenizer import SightlineTokenizer, build_tokenizer, encode_example, encode_prompt
from vlm_engine.model.vlm import SightlineVLM

QUESTION = "where is the square?"
IMAGE_SIZE = 32


@functools.cache
def tokenizer() -> SightlineTokenizer:
    return build_tokenizer(bpe_vocab_size=384)


def tiny_config(projector: ProjectorKind = ProjectorKind.MLP, **language: object) -> VLMConfig:
    tok = tokenizer()
    return VLMConfig(
        vision=VisionConfig(image_size=IMAGE_SIZE, patch_size=8, hidden_size=32, num_layers=2, num_heads=2),
        projector=ProjectorConfig(kind=projector, num_queries=8, num_layers=1, num_heads=2),
        language=LanguageConfig(
            **{
                "vocab_size": len(tok),
                "hidden_size": 64,
                "num_layers": 2,
                "num_heads": 4,
                "num_kv_heads": 2,
                "intermediate_size": 128,
                "max_position": 256,
                **language,
            }
        ),
        image_token_id=tok.image_id,
    )


def square_scene(rng: np.random.Generator, size: int = IMAGE_SIZE) -> tuple[np.ndarray, Box]:
    """A (size, size, 3) uint8 image on a dark noisy background with one bright square, and its box."""
    image = rng.integers(0, 40, (size, size, 3), dtype=np.uint8)
    side = int(rng.integers(size // 4, size // 3 + 1))
    x0, y0 = (int(v) for v in rng.integers(0, size - side + 1, 2))
    image[y0 : y0 + side, x0 : x0 + side] = rng.integers(150, 256, 3, dtype=np.uint8)
    return image, Box(x0, y0, x0 + side, y0 + side)


def grounding_set(count: int, seed: int = 0) -> list[tuple[np.ndarray, Box]]:
    rng = np.random.default_rng(seed)
    return [square_scene(rng) for _ in range(count)]


def answer_for(box: Box, size: int = IMAGE_SIZE) -> str:
    return format_box(box, BoxDialect.SIGHTLINE, size, size)


def train(
    model: SightlineVLM, samples: list[tuple[np.ndarray, Box]], steps: int, lr: float = 3e-3, seed: int = 0
) -> list[float]:
    """Full-batch AdamW on the set; returns the loss of every step."""
    torch.manual_seed(seed)
    tok = tokenizer()
    rows = [encode_example(tok, QUESTION, [model.image_placeholders], answer_for(box)) for _, box in samples]
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), tok.pad_id)
    labels = torch.full((len(rows), width), -100)
    for i, (ids, lab) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(lab)] = torch.tensor(lab)
    pixels = model.pixel_values([image for image, _ in samples])
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0, fused=True)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    losses = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: a second thread only contends for the shared cores
    try:
        for _ in range(steps):
            visual = list(model.encode_images(pixels))
            loss = model.loss(input_ids, labels, visual)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
    finally:
        torch.set_num_threads(threads)
    return losses


def predicted_boxes(
    model: SightlineVLM,
    samples: list[tuple[np.ndarray, Box]],
    options: DecodeOptions | None = None,
) -> list[list[Box]]:
    """Greedy answers to the question for every sample, parsed through grounding into image pixels."""
    model.eval()
    tok = tokenizer()
    options = DecodeOptions(max_new_tokens=8) if options is None else options
    visual = list(model.encode_images(model.pixel_values([image for image, _ in samples])))
    prompts = [encode_prompt(tok, QUESTION, [model.image_placeholders]) for _ in samples]
    completions = generate(model, tok, prompts, visual, options)
    return [
        [g.box for g in parse_boxes(c.text, BoxDialect.SIGHTLINE, IMAGE_SIZE, IMAGE_SIZE)]
        for c in completions
    ]


@functools.cache
def trained_model(
    projector: ProjectorKind = ProjectorKind.MLP, count: int = 12, steps: int = 250
) -> tuple[SightlineVLM, list[float]]:
    """A tiny model overfit to `grounding_set(count)` (memoised: one training per test session)."""
    torch.manual_seed(0)
    model = SightlineVLM(tiny_config(projector))
    losses = train(model, grounding_set(count), steps)
    return model.eval(), losses


def mixed_batch(model: SightlineVLM) -> tuple[list[list[int]], list[torch.Tensor]]:
    """Three prompts of different lengths with 1, 0 and 2 images, and their visual encodings."""
    tok = tokenizer()
    images = [image for image, _ in grounding_set(3, seed=1)]
    with torch.inference_mode():
        encoded = list(model.encode_images(model.pixel_values(images)))
    n = model.image_placeholders
    prompts = [
        encode_prompt(tok, QUESTION, [n]),
        encode_prompt(tok, "Describe the page in one sentence, please, and list every chart title.", []),
        encode_prompt(tok, "Which one?", [n, n], system="You compare images."),
    ]
    empty = torch.zeros(0, model.config.language.hidden_size)
    return prompts, [encoded[0], empty, torch.cat(encoded[1:])]
