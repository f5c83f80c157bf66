"""Spatial questions: the model's own verdict against the agent's two groundings, on held-out scenes.
`python bench/bench_spatial_route.py [--model models/sightline-tiny] [--n 200] [--seed 0]`.

The set: `vlm_engine.eval.synthetic.held_out_sets(n, tasks=("spatial",))`, held-out scenes (shades and
textures training never showed) with "Is the red circle to the left of the blue square?" (left, right,
above, below; the two centres at least 8% of the picture apart along that axis), half "yes", half "no".
Each picture is written as a PNG and the agent is run on the file, as a user's request would be.

Ways, same backend, same questions:
(a) model: the question asked as it is; the answer is two boxes and a verdict, and the verdict is scored
    (what the synthetic suite's spatial accuracy is);
(b) agent, one look: `run_agent("qa", ...)` with `AgentOptions(views=None, zoom=None, verify=None)`:
    "Where is the red circle?" and "Where is the blue square?" asked one at a time, the verdict from the two
    boxes' centres;
(c) agent, default options: each object grounded on ten views fused (`agent.views`), small boxes asked
    again closer, both boxes verified.
Columns: accuracy, seconds and backend tokens a question, the share of answers that are "unknown" (an
object not found); then the ratios of (b) and (c) to (a).
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
from vlm_engine.backends.base import GenerationConfig, ImageInput, Prompt
from vlm_engine.backends.native import NativeBackend
from vlm_engine.eval.synthetic import held_out_sets, yes_no


def model_way(backend: NativeBackend, samples: list) -> dict[str, float]:
    started = time.perf_counter()
    right = tokens = 0
    for sample in samples:  # one question at a time, as the agent's requests are
        prompt = Prompt(sample.question, (ImageInput.whole(sample.pictures[0].pixels),))
        [generation] = backend.generate([prompt], GenerationConfig(max_new_tokens=60))
        right += yes_no(generation.text) == sample.truth["answer"]
        tokens += generation.prompt_tokens + generation.completion_tokens + generation.visual_tokens
    n = len(samples)
    return {
        "accuracy": right / n,
        "s/question": (time.perf_counter() - started) / n,
        "tokens": tokens / n,
        "unknown": 0.0,
    }


def agent_way(backend: NativeBackend, samples: list, paths: list[str], options: AgentOptions) -> dict:
    started = time.perf_counter()
    right = tokens = unknown = 0
    for sample, path in zip(samples, paths, strict=True):
        answer = run_agent("qa", path, question=sample.question, backend=backend, options=options)
        right += answer.text == sample.truth["answer"]
        unknown += answer.text == "unknown"
        tokens += answer.usage.visual_tokens + answer.usage.prompt_tokens + answer.usage.completion_tokens
    n = len(samples)
    return {
        "accuracy": right / n,
        "s/question": (time.perf_counter() - started) / n,
        "tokens": tokens / n,
        "unknown": unknown / n,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/sightline-tiny")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    backend = NativeBackend.from_pretrained(args.model)
    samples = held_out_sets(args.n, args.seed, ("spatial",))["spatial"]
    with tempfile.TemporaryDirectory() as folder:
        paths = write_pictures(samples, folder)
        rows = {
            "(a) model's own verdict": model_way(backend, samples),
            "(b) agent, one look": agent_way(
                backend, samples, paths, AgentOptions(views=None, zoom=None, verify=None)
            ),
            "(c) agent, defaults": agent_way(backend, samples, paths, AgentOptions()),
        }
    title = f"{len(samples)} held-out spatial questions, seed {args.seed}, {args.model}"
    print_ways(title, rows, ("accuracy", "s/question", "tokens", "unknown"), "accuracy")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
