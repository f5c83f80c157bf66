"""Verification on the POPE-style presence set: hallucination rate with and without it, at matched recall.
`python bench/bench_verify.py [--model models/sightline-tiny] [--n 400] [--samples 8] [--seed 0]`.

The set: `vlm_engine.eval.synthetic.held_out_sets(n, tasks=("presence",))`, held-out scenes (shades and
textures training never showed), half "yes" questions, half "no" in POPE's random, popular and adversarial
subsets ("Is there a red circle in the image?"). Recall = share of present objects answered yes;
hallucination rate = share of absent objects answered yes.

Ways, same backend, same questions:
(a) plain: the model's greedy yes/no on the whole picture;
(b) verified: `vlm_engine.agent.verify.presence`: a yes stands only if the model can point at the object
    ("Where is the red circle?") and, on a crop around that box (the box plus 0.75 of its size on each
    side), says yes again and points at the same place (IoU >= 0.3); also with the crop's yes alone (no
    re-grounding), and with a wide crop (2 box sizes on each side: objects as large as in training).
(b') views: the yes/no asked on ten views of the picture (eight shifts of 1/16 of its side and the mirror
    image, `vlm_engine.agent.views`), yes when more than half say yes; alone (what `run_agent` does by
    default), and followed by (b)'s verification with the claim's box fused over the views (what it does
    under `AgentOptions(verify_presence=True)`).
Every way points at each yes ("Where is the red circle?"): the box is the answer's evidence.
(c) plain at matched recall: verification lowers recall as well as hallucinations, so the fair comparison
    is the plain model made just as cautious. Its yes-confidence is the share of `--samples` sampled
    answers (temperature 1) that say yes; answering yes above a threshold gives a recall/hallucination
    curve, read (linearly between its points) at (b)'s and (b')'s recall.
Columns: recall, hallucination rate, accuracy, F1, yes-ratio; then the ratio (b)/(c) of hallucinations.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vlm_engine.agent.questions import presence_target, said_yes
from vlm_engine.agent.trace import Trace
from vlm_engine.agent.verify import VerifyPolicy, presence
from vlm_engine.agent.views import ViewsPolicy
from vlm_engine.agent.zoom import image_draw
from vlm_engine.backends.base import GenerationConfig, ImageInput, Prompt
from vlm_engine.backends.native import NativeBackend
from vlm_engine.eval.synthetic import held_out_sets


def rates(said: list[bool], truth: list[bool]) -> dict[str, float]:
    positives = sum(truth)
    negatives = len(truth) - positives
    tp = sum(s and t for s, t in zip(said, truth, strict=True))
    fp = sum(s and not t for s, t in zip(said, truth, strict=True))
    recall = tp / max(1, positives)
    precision = tp / max(1, tp + fp)
    return {
        "recall": recall,
        "halluc": fp / max(1, negatives),
        "acc": sum(s == t for s, t in zip(said, truth, strict=True)) / len(truth),
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "yes": sum(said) / len(said),
    }


def at_recall(curve: list[tuple[float, float]], recall: float) -> float:
    """Hallucination rate on a (recall, hallucination) curve, linear between its points."""
    points = sorted(set(curve))
    for (r0, h0), (r1, h1) in itertools.pairwise(points):
        if r0 <= recall <= r1:
            return h0 if r1 == r0 else h0 + (h1 - h0) * (recall - r0) / (r1 - r0)
    return points[0][1] if recall < points[0][0] else points[-1][1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/sightline-tiny")
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    backend = NativeBackend.from_pretrained(args.model)
    samples = held_out_sets(args.n, args.seed, tasks=("presence",))["presence"]
    truth = [s.truth["answer"] == "yes" for s in samples]
    images = [ImageInput.whole(s.pictures[0].pixels) for s in samples]
    phrases = [presence_target(s.question) for s in samples]
    print(f"{len(samples)} held-out presence questions, {sum(truth)} present, model {args.model}")

    rows: dict[str, dict[str, float]] = {}
    seconds: dict[str, float] = {}
    ways = {  # name -> (verification, views)
        "plain": (None, None),
        "verified": (VerifyPolicy(), None),
        "verified, crop yes only": (VerifyPolicy(require_reground=False), None),
        "verified, wide crop": (VerifyPolicy(context=2.0), None),
        "views (agent default)": (None, ViewsPolicy()),
        "views + verified (verify_presence)": (VerifyPolicy(), ViewsPolicy()),
    }
    for name, (policy, views) in ways.items():
        started = time.perf_counter()
        said = []
        for image, phrase in zip(images, phrases, strict=True):
            [answer] = presence(
                backend,
                image,
                [phrase],
                image_draw(image.pixels),
                (image.view.width, image.view.height),
                Trace(),
                policy,
                views,
            )
            said.append(answer.yes)
        seconds[name] = time.perf_counter() - started
        rows[name] = rates(said, truth)

    prompts = [Prompt(s.question, images=(image,)) for s, image in zip(samples, images, strict=True)]
    votes = [0] * len(samples)
    for k in range(args.samples):
        config = GenerationConfig(max_new_tokens=3, temperature=1.0, seed=1000 + k)
        for i, generation in enumerate(backend.generate(prompts, config)):
            votes[i] += bool(said_yes(generation.text))
    curve = []
    for threshold in range(args.samples + 1):
        said = [v >= threshold for v in votes]
        r = rates(said, truth)
        curve.append((r["recall"], r["halluc"]))
    curve.append((0.0, 0.0))

    print(f"{'way':<34}{'recall':>8}{'halluc':>8}{'acc':>7}{'F1':>7}{'yes':>7}{'s':>7}")
    for name, r in rows.items():
        print(
            f"{name:<34}{r['recall']:>8.3f}{r['halluc']:>8.3f}{r['acc']:>7.3f}{r['f1']:>7.3f}{r['yes']:>7.3f}"
            f"{seconds[name]:>7.1f}"
        )
    print("at matched recall (the plain model's sampled yes-share as its threshold):")
    for name in list(ways)[1:]:
        matched = at_recall(curve, rows[name]["recall"])
        ratio = f"{rows[name]['halluc'] / matched:.2f}x" if matched else "-"
        print(
            f"  plain at {name}'s recall".ljust(44)
            + f"{rows[name]['recall']:>8.3f}{matched:>8.3f}   {name}: {rows[name]['halluc']:.3f} = {ratio} plain's"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
