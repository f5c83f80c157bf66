"""Every hf family on a tiny random checkpoint of its real architecture, loaded by path through the registry:
generation, placeholder counts against the model's own vision features, and box round trips to the source."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

from tests.backends.conftest import TINY_FAMILIES
from vlm_engine.backends.base import GenerationConfig, ImageInput, Prompt
from vlm_engine.backends.registry import load_backend
from vlm_engine.grounding import Box, BoxDialect, View, dialect_resolution, format_box

FAMILIES = sorted(TINY_FAMILIES)
SMART_RESIZE_FAMILIES = {"qwen2_vl", "qwen2_5_vl"}


@pytest.fixture(scope="module")
def backend_of(tiny_checkpoint):
    return lambda model_type: load_backend("hf", str(tiny_checkpoint(model_type)), device="cpu")


def _pixels(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def page_tile() -> ImageInput:
    """A 90x60 pixel view of the region (100, 50)-(400, 250) of a 612x792 pt page: a tile of a render."""
    return ImageInput(_pixels(60, 90), View.of_region(Box(100, 50, 400, 250), 90, 60))


def prompts_with_mixed_images() -> list[Prompt]:
    wide, tall = ImageInput.whole(_pixels(60, 100, 1)), ImageInput.whole(_pixels(90, 40, 2))
    return [
        Prompt("Compare the two.", (wide, tall), ground_on=1),
        Prompt("Where is the title?", (page_tile(),), system="Answer briefly."),
        Prompt("Say hello."),
    ]


@pytest.mark.parametrize("model_type", FAMILIES)
def test_batched_generation_from_a_checkpoint_dir(backend_of, model_type):
    backend = backend_of(model_type)
    assert backend.family.model_types == (model_type,)
    prompts = prompts_with_mixed_images()
    out = backend.generate(prompts, GenerationConfig(max_new_tokens=4))
    assert len(out) == len(prompts)
    for generation, prompt in zip(out, prompts, strict=True):
        assert isinstance(generation.text, str)
        assert 1 <= generation.completion_tokens <= 4
        assert generation.finish_reason in ("stop", "length")
        assert generation.prompt_tokens > generation.visual_tokens
        assert (generation.visual_tokens > 0) == bool(prompt.images)


@pytest.mark.parametrize("model_type", FAMILIES)
def test_placeholders_match_the_models_image_features(backend_of, model_type):
    backend = backend_of(model_type)
    prompts = [Prompt("One.", (page_tile(),)), Prompt("Two.", (ImageInput.whole(_pixels(90, 40, 2)),))]
    encoded = backend.encode(prompts)
    placeholders = (encoded.inputs["input_ids"] == backend.processor.image_token_id).sum(dim=1).tolist()

    inner = backend.model.model
    features = []

    def spy(*args, **kwargs):
        out = inner.__class__.get_image_features(inner, *args, **kwargs)
        features.append(out.pooler_output)
        return out

    inner.get_image_features = spy
    try:
        with torch.inference_mode():
            backend.model(**encoded.inputs)
    finally:
        del inner.get_image_features
    per_image = [int(f.shape[0]) for f in features[0]]
    assert placeholders == per_image
    assert all(n > 0 for n in per_image)


@pytest.mark.parametrize("model_type", FAMILIES)
@pytest.mark.parametrize(
    "source_box", [Box(130, 80, 260, 170), Box(100, 50, 400, 250), Box(310, 200, 399, 249)]
)
def test_box_round_trip_through_the_resized_input(backend_of, model_type, source_box):
    backend = backend_of(model_type)
    tile = page_tile()
    prompt = Prompt("Find it.", (ImageInput.whole(_pixels(30, 30, 3)), tile), ground_on=1)
    encoded = backend.encode([prompt])
    fed = encoded.images[0][1]
    view = backend.family.box_view(fed, encoded.inputs, encoded.image_index(0, 1), backend.processor)
    if model_type in SMART_RESIZE_FAMILIES:  # the box view is the processor's resized input
        settings = backend.processor.image_processor
        factor = settings.patch_size * settings.merge_size
        expected = smart_resize(60, 90, factor, settings.size["shortest_edge"], settings.size["longest_edge"])
        assert (view.height, view.width) == expected != (60, 90)
    text = "It is here: " + format_box(
        view.box_from_source(source_box), backend.box_dialect, view.width, view.height, label="title"
    )
    boxes = backend.source_boxes(text, prompt, encoded, 0)
    assert len(boxes) == 1
    step_x, step_y = dialect_resolution(backend.box_dialect, view.width, view.height)
    tolerance = np.array([step_x * view.to_source.a, step_y * view.to_source.e] * 2)
    error = np.abs(np.array(boxes[0].box.as_list(None)) - np.array(source_box.as_list(None)))
    assert (error <= tolerance + 1e-6).all(), (boxes[0].box, source_box, tolerance)
    region = tile.view.source_region
    assert boxes[0].box.intersection(region) == boxes[0].box  # never in the padding around a tile
    if backend.box_dialect in (BoxDialect.QWEN_VL, BoxDialect.QWEN2_5_VL):
        assert boxes[0].label == "title"
