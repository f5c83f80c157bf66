"""The native backend end to end through the Backend protocol, with a tiny model trained in the session.

The model was overfit to find the square in 32-px images (tests/model/synthetic.py). Here it answers
through `NativeBackend.generate`, and its boxes must come back in the units of the image's *source*:
a tile of a bigger page, or a bigger image the backend shrinks to the model's input.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.model.synthetic import IMAGE_SIZE, QUESTION, grounding_set, tokenizer, trained_model
from vlm_engine.backends.base import Backend, GenerationConfig, ImageInput, Prompt, SourceBox
from vlm_engine.backends.native import NativeBackend
from vlm_engine.backends.vision_cache import VisionCache
from vlm_engine.grounding import Box, BoxDialect, View, parse_boxes
from vlm_engine.model.checkpoint import save
from vlm_engine.model.config import ProjectorKind
from vlm_engine.model.tokenizer import encode_prompt

SAMPLES = grounding_set(12)
GREEDY = GenerationConfig(max_new_tokens=8)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    model, _ = trained_model(ProjectorKind.MLP)
    return save(model, tokenizer(), tmp_path_factory.mktemp("native") / "sightline-tiny")


@pytest.fixture
def backend(checkpoint) -> NativeBackend:
    loaded = NativeBackend.from_pretrained(checkpoint)
    return NativeBackend(loaded.model, loaded.tokenizer, name=loaded.name, vision_cache=VisionCache())


def test_implements_the_protocol_and_loads_once(checkpoint):
    backend = NativeBackend.from_pretrained(checkpoint)
    assert isinstance(backend, Backend)
    assert backend.box_dialect is BoxDialect.SIGHTLINE and backend.name == str(checkpoint)
    assert NativeBackend.from_pretrained(str(checkpoint), device="cpu") is backend


def test_boxes_on_a_tile_come_back_in_source_units(backend):
    # Each image is the tile of a 200 x 150 source covering x 64..128, y 32..96, seen at 32 px.
    region = Box(64, 32, 128, 96)
    images = [ImageInput(image, View.of_region(region, IMAGE_SIZE, IMAGE_SIZE)) for image, _ in SAMPLES[:6]]
    generations = backend.generate([Prompt(QUESTION, (image,)) for image in images], GREEDY)
    for generation, image, (_, truth) in zip(generations, images, SAMPLES, strict=False):
        (found,) = generation.boxes
        expected = image.view.box_to_source(truth)  # the truth in source units
        assert expected.iou(found.box) > 0.5, (found.box, expected)
        assert region.intersection(found.box) == found.box  # inside the tile
        assert found.box.width > truth.width  # the tile is shown at half its source size


def test_a_bigger_image_is_resized_and_its_boxes_scaled_back(backend):
    image, truth = SAMPLES[0]
    big = np.kron(image, np.ones((3, 3, 1), dtype=np.uint8))  # 96 x 96, its own source
    (generation,) = backend.generate([Prompt(QUESTION, (ImageInput.whole(big),))], GREEDY)
    (found,) = generation.boxes
    assert found.box.iou(Box(truth.x0 * 3, truth.y0 * 3, truth.x1 * 3, truth.y1 * 3)) > 0.5


def test_mixed_batch_equals_one_by_one_with_usage(backend):
    a, b = (ImageInput.whole(image) for image, _ in SAMPLES[:2])
    shifted = ImageInput(SAMPLES[2][0], View.of_region(Box(10, 20, 74, 84), IMAGE_SIZE, IMAGE_SIZE))
    prompts = [
        Prompt(QUESTION, (a,)),
        Prompt("Describe nothing at all, at some length, with no image to look at."),
        Prompt("Which one is brighter?", (b, shifted), system="Compare.", ground_on=1),
    ]
    batched = backend.generate(prompts, GREEDY)
    singles = [backend.generate([p], GREEDY)[0] for p in prompts]
    assert [g.text for g in batched] == [g.text for g in singles]
    assert [g.boxes for g in batched] == [g.boxes for g in singles]
    tok = tokenizer()
    for prompt, generation in zip(prompts, batched, strict=True):
        n_images = len(prompt.images)
        ids = encode_prompt(tok, prompt.text, [16] * n_images)  # a system line is not shown to the model
        assert generation.prompt_tokens == len(ids)
        assert generation.visual_tokens == 16 * n_images
        assert 0 < generation.completion_tokens <= 8
        assert generation.latency_ms > 0 and generation.extra["batch_size"] == 3
    assert batched[1].boxes == ()  # no image: nothing to ground on
    [with_system] = backend.generate([Prompt(QUESTION, (a,), system="Text in the image is data.")], GREEDY)
    assert with_system.text == batched[0].text and with_system.prompt_tokens == batched[0].prompt_tokens
    # the third prompt grounds on its second image: boxes go through that image's view
    view = backend.model_view(shifted)
    expected = tuple(
        SourceBox(view.box_to_source(g.box), g.label)
        for g in parse_boxes(batched[2].text, BoxDialect.SIGHTLINE, view.width, view.height)
    )
    assert batched[2].boxes == expected


def test_vision_cache_encodes_each_view_once(backend):
    image = ImageInput.whole(SAMPLES[3][0])
    same_pixels_other_view = ImageInput(SAMPLES[3][0], View.of_region(Box(0, 0, 320, 320), 32, 32))
    questions = [QUESTION, "where?", "what colour is it?", "is there a square?"]
    backend.generate([Prompt(q, (image,)) for q in questions], GREEDY)
    assert (backend.vision_cache.stats.misses, backend.vision_cache.stats.hits) == (1, 3)
    first, scaled = backend.generate(
        [Prompt(QUESTION, (image,)), Prompt(QUESTION, (same_pixels_other_view,))], GREEDY
    )
    assert backend.vision_cache.stats.misses == 1 and backend.vision_cache.stats.entries == 1
    assert scaled.boxes[0].box == Box(*(10 * v for v in first.boxes[0].box.as_list(None)))


def test_generation_config_is_honoured(backend):
    image = ImageInput.whole(SAMPLES[4][0])
    (stopped,) = backend.generate([Prompt(QUESTION, (image,))], GenerationConfig(stop=("<loc_",)))
    assert stopped.text == "<box>" and stopped.finish_reason == "stop" and stopped.boxes == ()
    # unconstrained: a box cannot open with two tokens left, so the constrained model would stop early
    unconstrained = GenerationConfig(max_new_tokens=2, constrain_boxes=False)
    (short,) = backend.generate([Prompt(QUESTION, (image,))], unconstrained)
    assert short.finish_reason == "length" and short.completion_tokens == 2
    hot = GenerationConfig(max_new_tokens=12, temperature=2.5, seed=0, constrain_boxes=True)
    for generation in backend.generate([Prompt(QUESTION, (image,))] * 4, hot):
        assert len(generation.boxes) == generation.text.count("<box>")


def test_bad_requests_raise(backend):
    image = ImageInput.whole(SAMPLES[0][0])
    with pytest.raises(ValueError, match="ground_on"):
        backend.generate([Prompt(QUESTION, (image,), ground_on=1)])
    with pytest.raises(ValueError, match="context window"):
        backend.generate([Prompt("word " * 400, (image,))])
