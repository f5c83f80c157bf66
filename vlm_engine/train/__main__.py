"""`python -m vlm_engine.train`: run the recipe's stages into a run directory, optionally ship the result.

    python -m vlm_engine.train --out runs/sightline-tiny --ship models/sightline-tiny

runs the tiny recipe, stages 0 to 3 with 2v and 2b (about 110 minutes on two CPU cores, about 3.5 hours
on a slower pair; the shipped checkpoint is a chain of such runs, replayed by
`python -m vlm_engine.train.lineage`). `--recipe real --vision DIR
--language DIR` builds the VLM from pretrained transformers parts on disk instead (a GPU run; stage 0 is
skipped). `--decoder-from DIR` starts the tiny recipe's decoder from a trained Sightline checkpoint's (its
tokenizer too): stage 0 then trains the encoder only and stages 1-3 re-tune on it, about 95 minutes on
two threads (`recipe.carried_decoder_recipe`; how the shipped model was made). A stopped run resumes where
it stopped when started again with the same --out. `--from DIR` starts the stages from a trained
Sightline checkpoint instead of a new model (its tokenizer too; pick the stages with --stages, e.g.
`--stages stage2v,stage2b,stage3` for the verdict drill, a further focused pass and DPO). `--set
NAME=VALUE` (repeatable) changes one recipe setting, `--set seed=11 --set stage2b.steps=5000`
(`recipe.with_overrides`). `--eval N`
scores the model DPO started from (the run's stage 2b or 2, else the --from checkpoint) and the stage-3
model side by side on the held-out synthetic suite (N samples per task) and writes the figures next to
the shipped model.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

import torch

from vlm_engine.model import checkpoint
from vlm_engine.model.tokenizer import SightlineTokenizer
from vlm_engine.train import stages
from vlm_engine.train.pretrained import pretrained_tokenizer, real_size_recipe
from vlm_engine.train.recipe import (
    build_model,
    carried_decoder_recipe,
    recipe_tokenizer,
    tiny_recipe,
    with_overrides,
)

logger = logging.getLogger("vlm_engine.train")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vlm_engine.train", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="run directory (resumable)")
    parser.add_argument("--stages", default=",".join(stages.STAGES), help="comma-separated subset to run")
    parser.add_argument("--scale", type=float, default=1.0, help="scale every stage's steps (smoke runs)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--eval", type=int, default=0, help="held-out samples per task to score at the end")
    parser.add_argument("--ship", type=Path, help="copy the final checkpoint here")
    parser.add_argument("--recipe", choices=("tiny", "real"), default="tiny")
    parser.add_argument("--vision", type=Path, help="real recipe: a pretrained tower's directory")
    parser.add_argument("--language", type=Path, help="real recipe: a pretrained causal LM's directory")
    parser.add_argument(
        "--decoder-from",
        type=Path,
        help="tiny recipe: start the decoder from this Sightline checkpoint's (and use its tokenizer)",
    )
    parser.add_argument(
        "--from",
        dest="start",
        type=Path,
        help="tiny recipe: start the stages from this Sightline checkpoint (and use its tokenizer)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change a recipe setting: seed=11, stage2b.steps=5000, dpo_present_keep=0.5 (repeatable)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    unknown = set(args.stages.split(",")) - set(stages.STAGES)
    if unknown:
        parser.error(f"unknown stages {sorted(unknown)}; known: {', '.join(stages.STAGES)}")

    if args.start and (args.decoder_from or args.recipe == "real"):
        parser.error("--from starts from a whole checkpoint: not with --decoder-from or --recipe real")
    started = time.perf_counter()
    model = None
    if args.recipe == "real":
        if not (args.vision and args.language):
            parser.error("--recipe real needs --vision DIR and --language DIR")
        tokenizer = pretrained_tokenizer(args.language)
        recipe = real_size_recipe(args.vision, args.language, tokenizer)
    elif args.decoder_from:
        tokenizer = SightlineTokenizer.from_file(args.decoder_from / checkpoint.TOKENIZER_FILE)
        recipe = carried_decoder_recipe(tiny_recipe(tokenizer), args.decoder_from)
    elif args.start:
        model, tokenizer = checkpoint.load(args.start)
        recipe = tiny_recipe(tokenizer)
    else:
        tokenizer = recipe_tokenizer()
        recipe = tiny_recipe(tokenizer)
    try:
        recipe = with_overrides(recipe, args.set)
    except ValueError as exc:
        parser.error(f"--set {exc}")
    if args.scale != 1.0:
        recipe = recipe.scaled(args.scale)
    if model is None:
        model = build_model(recipe, tokenizer)
    elif recipe.model != model.config:
        parser.error(f"--from {args.start}: not the tiny recipe's model ({model.config})")
    final = stages.train(recipe, tokenizer, model, args.out, tuple(args.stages.split(",")))
    minutes = (time.perf_counter() - started) / 60
    logger.info("trained in %.1f min: %s", minutes, final)

    report = None
    if args.eval:
        report = evaluate(args.out, args.eval, start=args.start)
    if args.ship:
        ship(final, args.ship, report)
    return 0


def evaluate(out: Path, n: int, start: Path | None = None) -> dict:
    """The model DPO started from (this run's stage 2b, else its stage 2, else the `--from` checkpoint,
    named "start") and stage 3 on the same held-out sets, printed side by side; returns both results."""
    from vlm_engine.backends.native import NativeBackend
    from vlm_engine.eval import synthetic

    candidates = {"stage2b": out / "stage2b" / "model", "stage2": out / "stage2" / "model"}
    if start is not None:
        candidates["start"] = start
    before_dpo = [(name, path) for name, path in candidates.items() if path.exists()][:1]
    results = {}
    for name, directory in [*before_dpo, ("stage3", out / "stage3" / "model")]:
        if directory.exists():
            results[name] = synthetic.run(NativeBackend.from_pretrained(directory), n=n)
            results[name]["model"] = name
    if results:
        print(synthetic.format_table(*results.values()))
    return {stage: {"n": r["n"], "metrics": r["metrics"]} for stage, r in results.items()}


def ship(final: Path, target: Path, report: dict | None) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for item in final.iterdir():
        shutil.copy2(item, target / item.name)
    if report:
        (target / "eval.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    logger.info("shipped %s -> %s", final, target)


if __name__ == "__main__":
    sys.exit(main())
