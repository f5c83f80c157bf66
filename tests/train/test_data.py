"""The generators: reproducible, truthful (answers parse back to the truth), split-disjoint."""

from __future__ import annotations

import numpy as np
import pytest

from vlm_engine.grounding import BoxDialect, parse_boxes
from vlm_engine.train.data import MIXES, Split, generate_samples
from vlm_engine.train.data.dense import dense_targets
from vlm_engine.train.data.mix import MAKERS
from vlm_engine.train.data.scenes import hidden_fraction
from vlm_engine.train.data.things import Style


def test_same_seed_same_samples_and_other_seed_differs():
    a, b = generate_samples(20, seed=3), generate_samples(20, seed=3)
    c = generate_samples(20, seed=4)
    assert [s.question + s.answer for s in a] == [s.question + s.answer for s in b]
    assert all(np.array_equal(x.pictures[0].pixels, y.pictures[0].pixels) for x, y in zip(a, b, strict=True))
    assert [s.answer for s in a] != [s.answer for s in c]


@pytest.mark.parametrize("maker", sorted(MAKERS))
def test_every_task_maker_yields_pictures_and_answers(maker):
    samples = generate_samples(6, seed=1, mix=maker)
    for sample in samples:
        assert sample.question and sample.answer
        for picture in sample.pictures:
            assert picture.pixels.shape == (64, 64, 3) and picture.pixels.dtype == np.uint8
            for thing in picture.things:
                assert 0 <= thing.box.x0 < thing.box.x1 <= 64.01 and 0 <= thing.box.y0 < thing.box.y1 <= 64.01


def test_ground_answers_parse_back_to_the_true_box():
    for sample in generate_samples(30, seed=2, mix="ground"):
        (found,) = parse_boxes(sample.answer, BoxDialect.SIGHTLINE, 64, 64)
        assert found.box.iou(sample.truth["box"]) > 0.9
        assert found.label in sample.question
        rejected = parse_boxes(sample.rejected, BoxDialect.SIGHTLINE, 64, 64)[0].box
        assert rejected.iou(sample.truth["box"]) < 0.5


def test_counts_match_the_things_drawn_and_rejected_counts_are_wrong():
    for sample in generate_samples(40, seed=5, mix="count"):
        assert int(sample.answer) == sample.truth["count"]
        assert int(sample.rejected) != sample.truth["count"]
        assert sample.subset in ("0", "1-3", "4-6", "7-12")


def test_rejected_chart_values_are_a_near_miss_that_still_scores_wrong():
    offsets = set()
    for sample in generate_samples(200, seed=7, mix="chart_value"):
        value, rejected = sample.truth["value"], float(sample.rejected)
        assert float(sample.answer) == value
        assert abs(rejected - value) > 0.05 * value  # outside the metric's 5%: never a right answer
        offsets.add(rejected - value)
    assert offsets == {-10.0, -5.0, 5.0}  # a step off, or two below where one step would be within 5%


def test_pope_questions_are_balanced_and_negatives_are_absent():
    samples = generate_samples(200, seed=6, mix="presence")
    yes = [s for s in samples if s.answer == "yes"]
    assert 0.4 < len(yes) / len(samples) < 0.6
    assert {s.subset for s in samples} == {"random", "popular", "adversarial"}
    for sample in samples:
        named = sample.question.split("a ", 1)[1].split(" in")[0].rstrip("?")
        present = {t.name for t in sample.pictures[0].things}
        assert (named in present) == (sample.answer == "yes"), (sample.question, present)


def test_shapes_stay_visible_and_held_out_style_differs():
    rng_style = Style(held_out=True)
    for sample in generate_samples(20, seed=7, mix="find_all"):
        things = sample.pictures[0].things
        for i, thing in enumerate(things):
            assert hidden_fraction(thing.box, [t.box for t in things[i + 1 :]]) <= 1 / 3 + 1e-9
    train = generate_samples(10, seed=8, mix="ground")
    held = generate_samples(10, seed=8, split=Split.HELD_OUT, mix="ground")
    assert rng_style.held_out and [s.answer for s in train] != [s.answer for s in held]


def test_dense_targets_mark_every_thing_and_its_box():
    sample = generate_samples(1, seed=9, mix="find_all", max_objects=4)[0]
    picture = sample.pictures[0]
    targets = dense_targets(picture, grid=8)
    assert targets.centre.sum() <= len(picture.things)
    assert targets.covered.any() == bool(picture.things)
    assert set(np.unique(targets.kind[~targets.covered])) <= {0}
    assert (targets.box[targets.covered][:, 2] > targets.box[targets.covered][:, 0]).all()


def test_instruct_mix_covers_every_task_family():
    tasks = {s.task for s in generate_samples(300, seed=11)}
    assert {"ground", "count", "presence", "spatial", "chart", "temporal", "find_all", "caption"} <= tasks
    assert set(MIXES["instruct"]) <= set(MAKERS)


def test_referents_mark_what_the_question_is_about():
    from vlm_engine.train.data.dense import referent_map

    for sample in generate_samples(20, seed=12, mix="ground"):
        (box,) = sample.referents
        assert box == sample.truth["box"]
        cells = referent_map(sample.referents, 64, 4)
        assert cells.sum() >= 1
    for sample in generate_samples(40, seed=13, mix="presence"):
        assert bool(sample.referents) == (sample.answer == "yes")
    for sample in generate_samples(20, seed=14, mix="count"):
        assert len(sample.referents) == sample.truth["count"]
