"""Stage-2 training steps, side by side: `python bench/bench_train_step.py`.

The same stage-2 batches of the tiny recipe (32 samples of the "tuning" mix, full crowding), generated once
up front, trained one optimiser step each, the ways interleaved in every repeat:
(a) one padded batch per picture count: every row padded to the longest answer (the way before);
(b) length groups: each picture count's rows cut into at most 2 or 3 runs of similar token length
    (`batches.padded_groups`).
Printed: median seconds a step, padded tokens a step (the decoder's work) and the ratio to (a). The model
starts from the recipe's fresh weights (speed does not depend on them). One torch thread by default, for
the reason `bench_generation.py` gives (`--threads 2` on an idle machine).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vlm_engine.train import stages
from vlm_engine.train.batches import collate, padded_groups
from vlm_engine.train.data import generate_samples
from vlm_engine.train.recipe import build_model, recipe_tokenizer, tiny_recipe


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=8, help="batches in a repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    tokenizer = recipe_tokenizer()
    recipe = tiny_recipe(tokenizer)
    model = build_model(recipe, tokenizer)
    model.vision.requires_grad_(False)
    match_head = nn.Linear(recipe.model.language.hidden_size, 1)
    params = [p for p in model.parameters() if p.requires_grad] + list(match_head.parameters())
    optimizer = torch.optim.SGD(params, lr=0.0)  # the step's work without moving the weights
    placeholders = model.image_placeholders
    batches = [
        generate_samples(recipe.stage2.batch_size, 900_000 + i, mix=recipe.stage2.mix, size=64)
        for i in range(args.steps)
    ]

    def padded_tokens(max_groups: int) -> int:
        """Padded tokens a step: the decoder's work."""
        groups = [
            g for samples in batches for g in padded_groups(samples, tokenizer, placeholders, max_groups)
        ]
        return sum(collate(g, tokenizer, placeholders).input_ids.numel() for g in groups) // len(batches)

    def run(max_groups: int) -> float:
        """Seconds a step of the recipe's own stage-2 loss, rows in at most `max_groups` length groups."""
        step_loss = stages.SupervisedLoss(model, tokenizer, match_head, max_groups=max_groups)
        began = time.perf_counter()
        for samples in batches:
            loss, _ = step_loss(samples, sigma=1.0)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return (time.perf_counter() - began) / len(batches)

    ways = {"(a) one batch per picture count": 1, "(b) length groups <= 2": 2, "(b) length groups <= 3": 3}
    times: dict[str, list[float]] = {name: [] for name in ways}
    tokens = {name: padded_tokens(groups) for name, groups in ways.items()}
    run(1)  # warm-up
    for _ in range(args.repeats):
        for name, groups in ways.items():
            times[name].append(run(groups))
    base = statistics.median(times["(a) one batch per picture count"])
    base_tokens = tokens["(a) one batch per picture count"]
    print(
        f"stage-2 steps: {args.steps} batches x {recipe.stage2.batch_size}, {args.repeats} repeats, "
        f"{args.threads} thread(s)"
    )
    print(f"{'way':34} {'s/step':>8} {'speed-up':>9} {'padded tokens':>14} {'of (a)':>7}")
    for name in ways:
        median = statistics.median(times[name])
        print(
            f"{name:34} {median:8.3f} {base / median:8.2f}x {tokens[name]:14d} {tokens[name] / base_tokens:7.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
