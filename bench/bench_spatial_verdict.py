"""Where spatial answers go wrong, models side by side: `python bench/bench_spatial_verdict.py DIR [DIR ...]`.

A spatial answer is two boxes and then a verdict ("<ref>a</ref><box>..</box><ref>b</ref><box>..</box> yes").
On the same held-out questions this splits its accuracy into its parts, for each model directory:
- `verdict`: the free answer's verdict is right (what the synthetic suite scores);
- `boxes order`: the model's own two boxes put the objects in the true order along the asked axis;
- `agrees`: the verdict is the one the model's own boxes imply (the comparison, on its own boxes);
- `verdict | true boxes`: teacher-forced on the true boxes, "yes" outscores "no" exactly when it should
  (the comparison alone, with perfect evidence);
- `order, asked alone`: the boxes of "Where is the X?" and "Where is the Y?", asked one at a time, put the
  objects in the true order (what the model can find outside its answer);
- `2nd box hit` / `2nd alone hit`: the answer's second box, and the second object asked alone, at IoU >= 0.5.
A model can fail by finding the wrong objects (boxes order low), by not comparing (agrees and
verdict | true boxes near 0.5), or by grounding worse inside its answer than alone (order, asked alone
well above boxes order).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vlm_engine.agent.questions import ask_where, relation_target
from vlm_engine.backends.base import GenerationConfig, ImageInput, Prompt
from vlm_engine.backends.native import NativeBackend
from vlm_engine.eval.synthetic import held_out_sets, yes_no
from vlm_engine.grounding import relation_gap
from vlm_engine.model.tokenizer import IGNORE_INDEX
from vlm_engine.train.batches import collate
from vlm_engine.train.stages import visual_rows


@torch.no_grad()
def teacher_forced(backend: NativeBackend, samples: list) -> float:
    """Share of questions where, after the true boxes, the model scores the true verdict above the other."""
    model, tokenizer = backend.model, backend.tokenizer
    yes, no = tokenizer.encode(" yes")[0], tokenizer.encode(" no")[0]
    batch = collate(samples, tokenizer, model.image_placeholders)
    logits = model.language.logits(model(batch.input_ids, visual_rows(model, batch, train_encoder=False)))
    right = 0
    for row, sample in enumerate(samples):
        labelled = (batch.labels[row] != IGNORE_INDEX).nonzero().squeeze(1)
        verdict_at = int(labelled[-2])  # the answer ends "... </box> yes|no" + eos
        said = "yes" if logits[row, verdict_at - 1, yes] > logits[row, verdict_at - 1, no] else "no"
        right += said == sample.truth["answer"]
    return right / len(samples)


def score(directory: Path, samples: list) -> dict[str, float]:
    backend = NativeBackend.from_pretrained(directory)
    prompts = [Prompt(s.question, tuple(ImageInput.whole(p.pixels) for p in s.pictures)) for s in samples]
    config = GenerationConfig(max_new_tokens=60)
    generations = backend.generate(prompts, config)
    named = [relation_target(s.question) for s in samples]  # (subject, relation, reference)
    alone = [
        backend.generate(
            [Prompt(ask_where(phrase), p.images) for phrase, p in zip(phrases, prompts, strict=True)], config
        )
        for phrases in ([n[0] for n in named], [n[2] for n in named])
    ]
    verdict = ordered = agrees = ordered_alone = second_hit = second_alone_hit = 0
    for sample, generation, (_, relation, reference), *looks in zip(
        samples, generations, named, *alone, strict=True
    ):
        truth = sample.truth["answer"]
        true_second = next(t.box for t in sample.pictures[0].things if t.name == reference)
        said = yes_no(generation.text)
        verdict += said == truth
        if len(generation.boxes) >= 2:
            first, second = (b.box for b in generation.boxes[:2])
            implied = "yes" if relation_gap(first, second, relation) > 0 else "no"
            ordered += implied == truth
            agrees += implied == said
            second_hit += second.iou(true_second) >= 0.5
        if all(look.boxes for look in looks):
            first, second = (look.boxes[0].box for look in looks)
            ordered_alone += ("yes" if relation_gap(first, second, relation) > 0 else "no") == truth
            second_alone_hit += second.iou(true_second) >= 0.5
    n = len(samples)
    return {
        "verdict": verdict / n,
        "boxes order": ordered / n,
        "agrees": agrees / n,
        "verdict | true boxes": teacher_forced(backend, samples),
        "order, asked alone": ordered_alone / n,
        "2nd box hit": second_hit / n,
        "2nd alone hit": second_alone_hit / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    samples = held_out_sets(args.n, args.seed, ("spatial",))["spatial"]
    rows = {str(d): score(d, samples) for d in args.models}
    names = list(next(iter(rows.values())))
    width = max(len(r) for r in rows)
    print(f"{'model'.ljust(width)}  " + "  ".join(n.rjust(20) for n in names))
    for model, figures in rows.items():
        print(f"{model.ljust(width)}  " + "  ".join(f"{figures[n]:20.3f}" for n in names))


if __name__ == "__main__":
    main()
