"""`python -m vlm_engine.eval --suite receipts|synthetic ...`: run one evaluation suite, print its table.

  --suite receipts --data DIR [--backend KIND:MODEL] [--limit N] [--json OUT]
  --suite synthetic (--model DIR | --backend KIND:MODEL) --n N[,N..] [--seed S[,S..]] [--tasks T,..]
                    [--agent | --against DIR] [--json OUT]

`--backend` names a backend for `vlm_engine.backends.registry.load_backend` as KIND:MODEL (e.g.
`hf:/models/qwen2-vl`); `--model DIR` is the project's own checkpoint (the native backend). `--agent` asks
the same held-out questions through the agent (`run_agent` on image and video files, its default
options) and prints its table beside the bare model's. `--tasks presence` scores only that task's set (the
same questions as in the full suite, so a large presence-only run is cheap). Several seeds pool: `--seed
0,1,2 --n 100,100,300` scores each seed's sets and prints the metrics over all 500 questions a task (one
`--n` applies to every seed; the JSON holds each seed's metrics too). `--against DIR` scores a second
native checkpoint on the same sets and prints it first, beside the model (the stage-2 model a DPO started
from against the DPO's: `--against runs/lineage/seventh/stage2b/model --model models/sightline-tiny
--tasks presence --seed 5,6,7,8,9,10 --n 2000`); the JSON then holds {"against": .., "model": ..}.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

from vlm_engine.backends.base import Backend
from vlm_engine.backends.registry import BACKEND_KINDS, load_backend

SUITES = ("receipts", "synthetic")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vlm_engine.eval", description=__doc__.splitlines()[0])
    parser.add_argument("--suite", required=True, choices=SUITES)
    parser.add_argument("--data", help="receipts: a directory with img/, box/ and key/")
    parser.add_argument("--backend", help="KIND:MODEL, KIND one of " + ", ".join(BACKEND_KINDS))
    parser.add_argument("--model", help="synthetic: a native checkpoint directory")
    parser.add_argument("--n", help="synthetic: how many samples a task (per seed: N or N,N,..)")
    parser.add_argument("--seed", default="0", help="synthetic: the sample seed, or seeds to pool (S,S,..)")
    parser.add_argument("--tasks", help="synthetic: a comma-separated subset of the suite's tasks")
    parser.add_argument("--limit", type=int, help="receipts: only the first N")
    parser.add_argument(
        "--agent", action="store_true", help="synthetic: also ask through the agent, side by side"
    )
    parser.add_argument(
        "--against", help="synthetic: also score this native checkpoint on the same sets, side by side"
    )
    parser.add_argument("--json", type=Path, help="also write the result as JSON here")
    return parser


def _backend(spec: str | None, parser: argparse.ArgumentParser) -> Backend | None:
    if spec is None:
        return None
    kind, _, model = spec.partition(":")
    if kind not in BACKEND_KINDS or not model:
        parser.error(f"--backend must be KIND:MODEL with KIND one of {', '.join(BACKEND_KINDS)}")
    return load_backend(kind, model)


def _jsonable(result: Any) -> Any:
    if hasattr(result, "to_dict"):
        return result.to_dict()
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.asdict(result)
    return result


def _draws(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[tuple[int, int]]:
    """(seed, n) pairs from --seed and --n: one n for every seed, or one per seed."""
    try:
        seeds = [int(s) for s in args.seed.split(",")]
        counts = [int(n) for n in args.n.split(",")]
    except ValueError:
        parser.error("--seed and --n take integers, comma-separated")
    if len(counts) == 1:
        counts *= len(seeds)
    if len(counts) != len(seeds) or len(set(seeds)) != len(seeds) or min(counts) < 1:
        parser.error("--n takes one count, or one per seed of --seed; each seed once, each count >= 1")
    return list(zip(seeds, counts, strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.suite == "receipts":
        if args.data is None:
            parser.error("--suite receipts needs --data DIR")
        from vlm_engine.eval import receipts

        try:
            result = receipts.run(args.data, backend=_backend(args.backend, parser), limit=args.limit)
        except receipts.ReceiptsDataError as exc:
            parser.error(str(exc))
        table = receipts.format_table(result)
    else:
        if args.n is None or (args.model is None) == (args.backend is None):
            parser.error("--suite synthetic needs --n N and one of --model DIR or --backend KIND:MODEL")
        from vlm_engine.eval import synthetic

        if args.model is not None:
            from vlm_engine.backends.native import NativeBackend

            backend = NativeBackend.from_pretrained(args.model)
        else:
            backend = _backend(args.backend, parser)
        tasks = tuple(args.tasks.split(",")) if args.tasks else synthetic.TASKS
        unknown = sorted(set(tasks) - set(synthetic.TASKS))
        if unknown:
            parser.error(f"unknown tasks {unknown}; known: {', '.join(synthetic.TASKS)}")
        draws = _draws(args, parser)
        if args.agent and (len(draws) > 1 or args.against):
            parser.error("--agent takes one seed and no --against")

        def scored(on: Backend) -> dict[str, Any]:
            if len(draws) > 1:
                return synthetic.run_pooled(on, draws, tasks)
            ((seed, n),) = draws
            return synthetic.run(on, n=n, seed=seed, tasks=tasks)

        result = scored(backend)
        if args.agent:
            from vlm_engine.eval import through_agent

            ((seed, n),) = draws
            agent = through_agent.run(backend, n=n, seed=seed, tasks=tasks)
            result = {"model": result, "agent": agent}
            table = synthetic.format_table(result["model"], result["agent"])
        elif args.against:
            from vlm_engine.backends.native import NativeBackend

            result = {"against": scored(NativeBackend.from_pretrained(args.against)), "model": result}
            table = synthetic.format_table(result["against"], result["model"])
        else:
            table = synthetic.format_table(result)
    print(table)
    if args.json is not None:
        args.json.write_text(json.dumps(_jsonable(result), indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
