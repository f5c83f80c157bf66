"""Each projector type learns the synthetic grounding set: loss falls 10x and the boxes come back right.

The prompt is the same for every sample, so the model can only answer from the image: overfitting this set
proves the whole image pathway (encoder -> projector -> language model -> location tokens) carries
information, for every projector. Boxes are parsed from the generated text with `grounding.parse_boxes`.
"""

from __future__ import annotations

import pytest

from tests.model.synthetic import grounding_set, predicted_boxes, trained_model
from vlm_engine.model.config import ProjectorKind


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(ProjectorKind))
def test_tiny_model_overfits_grounding(kind):
    model, losses = trained_model(kind)
    samples = grounding_set(12)
    assert losses[-1] * 10 < losses[0], f"loss {losses[0]:.3f} -> {losses[-1]:.3f}"
    predictions = predicted_boxes(model, samples)
    for (_, truth), boxes in zip(samples, predictions, strict=True):
        assert len(boxes) == 1
        assert boxes[0].iou(truth) > 0.5, (boxes[0], truth)
    if kind is ProjectorKind.CROSS_ATTN:  # the gates opened from their initial 0
        assert all(layer.attn_gate.abs().item() > 0 for layer in model.projector.layers)
