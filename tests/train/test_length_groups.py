"""Length groups: every sample lands in exactly one group, the split pads no more than any other, and the
step's loss is the same however its rows are grouped."""

from __future__ import annotations

import functools
import itertools
import random

import pytest
import torch

from tests.train.conftest import untrained_tiny
from vlm_engine.model.tokenizer import IGNORE_INDEX
from vlm_engine.train import stages
from vlm_engine.train.batches import collate, padded_groups, split_by_length
from vlm_engine.train.data import generate_samples
from vlm_engine.train.recipe import recipe_tokenizer


def padded_area(lengths: list[int], runs: list[list[int]]) -> int:
    return sum(len(run) * max(lengths[i] for i in run) for run in runs)


def best_area_by_brute_force(lengths: list[int], max_groups: int) -> int:
    """The least padded area over every way of cutting the sorted rows into at most `max_groups` runs."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    best = padded_area(lengths, [order])
    for groups in range(2, max_groups + 1):
        for cuts in itertools.combinations(range(1, len(order)), groups - 1):
            bounds = [0, *cuts, len(order)]
            runs = [order[a:b] for a, b in itertools.pairwise(bounds)]
            best = min(best, padded_area(lengths, runs))
    return best


@pytest.mark.parametrize("seed", range(20))
def test_split_is_a_partition_with_the_least_padding(seed):
    rng = random.Random(seed)
    lengths = [rng.choice((20, 30, 33, 55, 145)) + rng.randint(0, 4) for _ in range(rng.randint(1, 12))]
    max_groups = rng.randint(1, 3)
    runs = split_by_length(lengths, max_groups)
    assert sorted(i for run in runs for i in run) == list(range(len(lengths)))
    assert 1 <= len(runs) <= max_groups
    assert padded_area(lengths, runs) == best_area_by_brute_force(lengths, max_groups)
    assert split_by_length(lengths, max_groups) == runs


def test_one_group_keeps_one_run_and_no_samples_make_no_runs():
    assert split_by_length([5, 3, 9], 1) == [[1, 0, 2]]
    assert split_by_length([], 3) == []


def test_groups_separate_videos_and_cut_padding_on_a_real_batch():
    tokenizer = recipe_tokenizer()
    samples = generate_samples(32, 123, mix="tuning")
    grouped = padded_groups(samples, tokenizer, placeholders=4, max_groups=3)
    assert sorted(id(s) for g in grouped for s in g) == sorted(id(s) for s in samples)
    assert all(len({len(s.pictures) for s in group}) == 1 for group in grouped)
    whole = padded_groups(samples, tokenizer, placeholders=4, max_groups=1)

    def padded(groups):
        return sum(collate(g, tokenizer, 4).input_ids.numel() for g in groups)

    def labelled(groups):
        return sum(int((collate(g, tokenizer, 4).labels != IGNORE_INDEX).sum()) for g in groups)

    assert labelled(grouped) == labelled(whole)  # the same answers are trained on
    assert padded(grouped) < 0.85 * padded(whole)


@functools.cache
def tuning_loss_setup():
    """The tiny recipe's model, an untrained match head and a stage-2 batch of stills and three videos."""
    _, model, tokenizer, match_head = untrained_tiny()
    stills = generate_samples(29, 321, mix="tuning")
    videos = generate_samples(3, 322, mix="temporal")
    return model, tokenizer, match_head, [s for s in stills if len(s.pictures) == 1], videos


def step_loss(max_groups: int, samples) -> float:
    model, tokenizer, match_head, _, _ = tuning_loss_setup()
    loss = stages.SupervisedLoss(model, tokenizer, match_head, max_groups=max_groups)
    with torch.no_grad():
        return float(loss(samples, sigma=1.0)[0])


def test_length_groups_leave_the_step_loss_as_one_batch_per_picture_count_gives():
    model, tokenizer, _, stills, videos = tuning_loss_setup()
    samples = stills + videos
    assert len(padded_groups(samples, tokenizer, model.image_placeholders, max_groups=3)) > 2
    assert step_loss(3, samples) == pytest.approx(step_loss(1, samples), rel=1e-5)


def test_each_picture_count_weighs_by_its_share_of_the_rows():
    """Stills and videos are averaged apart, then weighed by their rows: a video's short answer weighs as
    a row does, not by its few tokens (the weighting the shipped model was trained with)."""
    _, _, _, stills, videos = tuning_loss_setup()
    together = step_loss(3, stills + videos)
    share = len(videos) / (len(stills) + len(videos))
    apart = (1 - share) * step_loss(3, stills) + share * step_loss(3, videos)
    assert together == pytest.approx(apart, rel=1e-5)
