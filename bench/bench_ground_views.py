"""Grounding on one look against several views fused, through the agent, on held-out scenes.
`python bench/bench_ground_views.py [--model models/sightline-tiny] [--n 200] [--seed 0] [--split held_out]`.

The set: `vlm_engine.eval.synthetic.held_out_sets(n, tasks=("ground",))` ("Where is the red circle?" in
held-out scenes of 1-12 shapes; `--split train` draws training-split scenes instead, which is where the
view set was chosen). Each picture is written as a PNG and `run_agent("ground", ...)` is run on the file
with verification off (it flags boxes but never moves them).

Ways, same backend, same questions:
(a) one look: `AgentOptions(views=None, zoom=None)`;
(b) one look, small boxes asked again closer (the zoom step);
(c) views: the question asked on the picture, 8 shifts of 1/16 of its side and its mirror image, boxes
    fused by coordinate-wise median (`agent.views`), no zoom;
(d) views + zoom (the agent's default).
Columns: Acc@0.5, mean IoU, seconds and backend tokens a question; then each way's ratios to (a).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.side_by_side import print_ways, write_pictures
from vlm_engine.agent import AgentOptions, run_agent
from vlm_engine.backends.native import NativeBackend
from vlm_engine.eval.synthetic import held_out_sets
from vlm_engine.grounding import Box
from vlm_engine.train.data.mix import Split, generate_samples

WAYS = {
    "(a) one look": AgentOptions(views=None, zoom=None, verify=None),
    "(b) one look + zoom": AgentOptions(views=None, verify=None),
    "(c) views": AgentOptions(zoom=None, verify=None),
    "(d) views + zoom": AgentOptions(verify=None),
}


def way(backend: NativeBackend, samples: list, paths: list[str], options: AgentOptions) -> dict[str, float]:
    started = time.perf_counter()
    ious, tokens = [], 0
    for sample, path in zip(samples, paths, strict=True):
        answer = run_agent("ground", path, question=sample.question, backend=backend, options=options)
        ious.append(Box(*answer.evidence[0].bbox).iou(sample.truth["box"]) if answer.evidence else 0.0)
        tokens += answer.usage.visual_tokens + answer.usage.prompt_tokens + answer.usage.completion_tokens
    n = len(samples)
    return {
        "Acc@0.5": sum(iou >= 0.5 for iou in ious) / n,
        "mean IoU": sum(ious) / n,
        "s/question": (time.perf_counter() - started) / n,
        "tokens": tokens / n,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/sightline-tiny")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", choices=("held_out", "train"), default="held_out")
    args = parser.parse_args()
    backend = NativeBackend.from_pretrained(args.model)
    if args.split == "train":
        samples = generate_samples(args.n, 4242 + args.seed, Split.TRAIN, mix="ground")
    else:
        samples = held_out_sets(args.n, args.seed, ("ground",))["ground"]
    with tempfile.TemporaryDirectory() as folder:
        paths = write_pictures(samples, folder)
        rows = {name: way(backend, samples, paths, options) for name, options in WAYS.items()}
    title = f"{len(samples)} {args.split} grounding questions, seed {args.seed}, {args.model}"
    print_ways(title, rows, ("Acc@0.5", "mean IoU", "s/question", "tokens"), "Acc@0.5")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
