"""How well stage-0 encoders see, side by side: `python bench/bench_encoder_probe.py STATE [STATE ...]`.

Each STATE is a stage-0 encoder checkpoint (`runs/<run>/stage0/encoder/state.pt`, written by the recipe's
stage 0: the ViT and its dense heads). Every encoder reads the same generated scenes, from the training
split and from the held-out split (unseen shades and textures), and its own dense heads are scored per
8-px patch against `dense_targets`: shape accuracy and colour accuracy on patches a shape covers, "none"
accuracy on the others, and the mean error of the covering shape's box in pixels. Each encoder is built
with the patch stem its weights hold (a strided patch embedding or the conv stem). The encoder is frozen
after stage 0, so what it cannot tell apart here the language model never sees.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vlm_engine.model.config import PatchStem, VLMConfig
from vlm_engine.model.vlm import SightlineVLM
from vlm_engine.train.data import Split, generate_samples
from vlm_engine.train.data.dense import dense_targets
from vlm_engine.train.heads import DenseHeads
from vlm_engine.train.recipe import recipe_tokenizer, tiny_model_config


def load(state: Path, config: VLMConfig) -> tuple[SightlineVLM, DenseHeads]:
    """A model of `config` holding the checkpoint's encoder, with the stem its weights were trained with,
    and that encoder's dense heads."""
    modules = torch.load(state, weights_only=False)["modules"]
    stem = PatchStem.PATCH if "patch_embed.weight" in modules["vision"] else PatchStem.CONV
    model = SightlineVLM(replace(config, vision=replace(config.vision, stem=stem))).eval()
    heads = DenseHeads(config.vision.hidden_size)
    model.vision.load_state_dict(modules["vision"])
    heads.load_state_dict(modules["dense"])
    return model, heads.eval()


@torch.no_grad()
def score(model: SightlineVLM, heads: DenseHeads, pictures: list) -> dict[str, float]:
    vision = model.config.vision
    grid = vision.grid[0]
    features, _ = model.vision(model.pixel_values([p.pixels for p in pictures]))
    out = heads(features.reshape(-1, vision.hidden_size))
    targets = [dense_targets(p, grid) for p in pictures]
    kind, colour, covered = (
        torch.from_numpy(np.stack([getattr(t, name) for t in targets])).flatten()
        for name in ("kind", "colour", "covered")
    )
    box = torch.from_numpy(np.stack([t.box for t in targets])).reshape(-1, 4)
    size = vision.image_size
    return {
        "shape": float((out["kind"].argmax(-1) == kind)[covered].float().mean()),
        "colour": float((out["colour"].argmax(-1) == colour)[covered].float().mean()),
        "none": float((out["kind"].argmax(-1) == 0)[~covered].float().mean()),
        "box px": float((out["box"].sigmoid() - box)[covered].abs().mean() * size),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("states", type=Path, nargs="+")
    parser.add_argument("--n", type=int, default=400, help="scenes per split")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = tiny_model_config(recipe_tokenizer())
    splits = {
        split.value: [s.pictures[0] for s in generate_samples(args.n, 4242, split, mix="count", size=64)]
        for split in (Split.TRAIN, Split.HELD_OUT)
    }
    print(f"{args.n} scenes per split, per-patch readouts of each encoder's own dense heads")
    print(f"{'encoder':48s} {'split':9s} {'shape':>6s} {'colour':>6s} {'none':>6s} {'box px':>6s}")
    for state in args.states:
        model, heads = load(state, config)
        for split, pictures in splits.items():
            row = score(model, heads, pictures)
            figures = " ".join(f"{row[k]:6.3f}" if k != "box px" else f"{row[k]:6.2f}" for k in row)
            print(f"{str(state)[-48:]:48s} {split:9s} {figures}")


if __name__ == "__main__":
    main()
