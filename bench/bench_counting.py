"""Counting by grounding against asking for the number, on held-out scenes.
`python bench/bench_counting.py [--model models/sightline-tiny] [--crowded 80] [--others 20] [--seed 0]`.

The set: counting questions drawn from `vlm_engine.eval.synthetic.held_out_sets(..., tasks=("count",))`
(held-out shades and textures; "How many circles / red objects / objects are there?"): the first
`--crowded` whose true count is 7-12 (the must-show bucket), and for context the first `--others` of each
other bucket (0, 1-3, 4-6).

Ways, same backend, same pictures:
(a) direct: "How many circles are there?" -> the first number in the reply (`agent.count.ask_count`);
(b) by grounding: "Find every circle." -> every stated box, greedy NMS at IoU 0.5, count = boxes left
    (`agent.count.count_by_grounding`);
(c) by grounding on views: (b) on ten views of the picture (eight shifts of 1/16 of its side and the
    mirror image, `agent.views`), the count the (lower) median of the ten;
(d) checked: (a)'s number when one of (c)'s views found exactly that many boxes (those are the evidence),
    else (c)'s median (what `run_agent` does).
Columns per bucket: exact match and mean absolute error of each way; the ratios (c)/(a) and (d)/(a) of
exact match. Times: (d) is (a)'s call plus the views'.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vlm_engine.agent.count import ask_count, count_by_grounding
from vlm_engine.agent.questions import count_target
from vlm_engine.agent.trace import Trace
from vlm_engine.agent.views import ViewsPolicy
from vlm_engine.backends.base import ImageInput
from vlm_engine.backends.native import NativeBackend
from vlm_engine.eval.synthetic import held_out_sets

BUCKETS = ("0", "1-3", "4-6", "7-12")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/sightline-tiny")
    parser.add_argument("--crowded", type=int, default=80, help="questions with 7-12 objects")
    parser.add_argument("--others", type=int, default=20, help="questions in each other bucket")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    backend = NativeBackend.from_pretrained(args.model)
    wanted = {bucket: args.crowded if bucket == "7-12" else args.others for bucket in BUCKETS}
    samples = []
    for sample in held_out_sets(12 * (args.crowded + 3 * args.others), args.seed, tasks=("count",))["count"]:
        if wanted[sample.subset] > 0:
            wanted[sample.subset] -= 1
            samples.append(sample)
    results: dict[str, dict[str, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    seconds = {"direct": 0.0, "grounding": 0.0, "views": 0.0, "checked": 0.0}
    for sample in samples:
        image = ImageInput.whole(sample.pictures[0].pixels)
        phrase = count_target(sample.question)
        truth = sample.truth["count"]
        started = time.perf_counter()
        direct = ask_count(backend, image, phrase, Trace())
        seconds_direct = time.perf_counter() - started
        seconds["direct"] += seconds_direct
        started = time.perf_counter()
        grounded = count_by_grounding(backend, image, phrase, Trace()).count
        seconds["grounding"] += time.perf_counter() - started
        started = time.perf_counter()
        viewed = count_by_grounding(backend, image, phrase, Trace(), views=ViewsPolicy()).count
        seconds["views"] += time.perf_counter() - started
        started = time.perf_counter()
        checked = count_by_grounding(
            backend, image, phrase, Trace(), views=ViewsPolicy(), number=direct
        ).count
        seconds["checked"] += time.perf_counter() - started + seconds_direct
        for way, said in (
            ("direct", -1 if direct is None else direct),
            ("grounding", grounded),
            ("views", viewed),
            ("checked", checked),
        ):
            results[sample.subset][way].append((said, truth))
            results["all"][way].append((said, truth))

    print(f"{len(samples)} held-out scene counting questions, model {args.model}")
    ways = ("direct", "grounding", "views", "checked")
    print(
        f"{'true count':<11}{'n':>5}"
        + "".join(f"{w + ' exact':>17}" for w in ways)
        + f"{'(c)/(a)':>9}{'(d)/(a)':>9}"
        + "".join(f"{'MAE ' + w:>16}" for w in ways)
    )
    for bucket in (*BUCKETS, "all"):
        rows = results.get(bucket)
        if not rows:
            continue
        exact = {w: sum(s == t for s, t in rows[w]) / len(rows[w]) for w in rows}
        mae = {w: sum(abs(max(s, 0) - t) for s, t in rows[w]) / len(rows[w]) for w in rows}
        ratios = "".join(
            f"{exact[w] / exact['direct']:.2f}x".rjust(9) if exact["direct"] else "-".rjust(9)
            for w in ("views", "checked")
        )
        print(
            f"{bucket:<11}{len(rows['direct']):>5}"
            + "".join(f"{exact[w]:>17.3f}" for w in ways)
            + ratios
            + "".join(f"{mae[w]:>16.2f}" for w in ways)
        )
    n = max(1, len(samples))
    print(
        "ms a question: "
        + ", ".join(
            f"{w} {seconds[w] / n * 1e3:.0f} ({seconds[w] / max(seconds['direct'], 1e-9):.1f}x)" for w in ways
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
