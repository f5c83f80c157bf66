"""`python -m vlm_engine.train.lineage`: remake the shipped checkpoint with one command, pass by pass.

    python -m vlm_engine.train.lineage --root runs/lineage --threads 2 --ship models/sightline-tiny

The shipped model is not one run of the recipe: it is a chain of train-CLI runs, each starting from the
model the one before it made (the README's "The shipped checkpoint's lineage" says why each pass is
there and what it measured). This module holds that chain as data and replays it.

Design choices:
- Each pass is the train CLI's own arguments (`vlm_engine.train.__main__.main`), so the chain is exactly
  what was run and a pass is no different from running its command by hand; `{prev}` stands for the
  model the pass before it made.
- The chain starts from the decoder of the patch-stem checkpoint of commit `START_COMMIT`, read from git
  (`git show`) into the root; `--start DIR` gives another start (a test's small model).
- Every pass runs in its own directory under the root and the train CLI resumes a stopped run, so the
  command started again after a stop goes on where it stopped; a finished pass is skipped.
- A pass leaves its last stage's model (`Pass.model`), so a pass may be a stage 2b alone, followed by
  a DPO pass from it with its own seed (how the last two passes ran).
- `--scale` shrinks every stage's steps as the train CLI's does: a smoke run of the whole chain.
- Reproduced means made the same way, not bitwise the same: the first pass draws its encoder's dense heads
  afresh, and threads change float sums.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from vlm_engine.model import checkpoint
from vlm_engine.train import stages
from vlm_engine.train.__main__ import evaluate, ship
from vlm_engine.train.__main__ import main as train_main

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
START_COMMIT = "eb9c341"  # the patch-stem checkpoint whose decoder the chain starts from
START_FILES = (checkpoint.CONFIG_FILE, checkpoint.WEIGHTS_FILE, checkpoint.TOKENIZER_FILE)
CHART_PAIRS_ONLY = (
    '{"chart_value": 1, "ground": 0, "find_all": 0, "count": 0, "presence": 0, "spatial": 0, "temporal": 0}'
)


@dataclass(frozen=True)
class Pass:
    name: str  # its run directory under the root
    args: tuple[str, ...]  # the train CLI's arguments but --out, --threads, --scale; {prev}: the last model
    shipped_in: str  # the commit that shipped its model (or, for a pass without DPO, the model made from it)

    def model(self, root: Path) -> Path:
        """The model this pass leaves under `root`: its last stage's."""
        named = self.args[self.args.index("--stages") + 1].split(",")
        return root / self.name / max(named, key=stages.STAGES.index) / "model"


BEFORE_CHART_PAIRS = ("--set", 'preference_weights={"presence": 3}')  # the recipe's DPO weights until 7ca9d5a
BEFORE_DRILL = ("--set", "verdict_drill=0")  # stage 2b had no verdict drill until 67763a0

LINEAGE = (
    Pass(
        "carried",
        ("--decoder-from", "{prev}", "--stages", "stage0,stage1,stage2,stage2b,stage3", *BEFORE_DRILL,
         *BEFORE_CHART_PAIRS),
        "2d25076",
    ),
    Pass(
        "second-2b",
        ("--from", "{prev}", "--stages", "stage2b,stage3", "--set", "seed=11", "--set", "stage2b.steps=5000",
         "--set", "dpo_present_keep=0.5", *BEFORE_DRILL, *BEFORE_CHART_PAIRS),
        "2427c0d",
    ),
    Pass(
        "third-2b",
        ("--from", "{prev}", "--stages", "stage2b,stage3", "--set", "seed=13", "--set", "stage2b.steps=5000",
         "--set", "dpo_present_keep=0.5", *BEFORE_DRILL, *BEFORE_CHART_PAIRS),
        "9284888",
    ),
    Pass(
        "fourth",
        ("--from", "{prev}", "--stages", "stage2v,stage2b,stage3", "--set", "seed=19",
         "--set", "stage2b.steps=1500", "--set", "dpo_present_keep=0.5", *BEFORE_CHART_PAIRS),
        "67763a0",
    ),
    Pass(
        "fifth",
        ("--from", "{prev}", "--stages", "stage2b,stage3", "--set", "seed=23", "--set", "stage2b.steps=600",
         "--set", "stage2b.mix=charts", "--set", "stage2b.warmup=30", "--set", "dpo_present_keep=0.5"),
        "7ca9d5a",
    ),
    Pass(
        "sixth",
        ("--from", "{prev}", "--stages", "stage3", "--set", "seed=37", "--set",
         f"preference_weights={CHART_PAIRS_ONLY}"),
        "1de2d97",
    ),
    Pass(
        "seventh",
        ("--from", "{prev}", "--stages", "stage2b", "--set", "seed=41", "--set", "stage2b.steps=5000"),
        "f6c3d73",
    ),
    Pass(
        "eighth",
        ("--from", "{prev}", "--stages", "stage3", "--set", "seed=47", "--set", "dpo_present_keep=0.7",
         "--set", "dpo_present_seen=true"),
        "f6c3d73",
    ),
)  # fmt: skip


def start_from_git(target: Path, commit: str = START_COMMIT) -> Path:
    """The start checkpoint's files as committed at `commit`, written to `target`."""
    target.mkdir(parents=True, exist_ok=True)
    for name in START_FILES:
        spec = f"{commit}:models/sightline-tiny/{name}"
        data = subprocess.run(["git", "show", spec], check=True, capture_output=True, cwd=REPO).stdout
        (target / name).write_bytes(data)
    return target


def replay(root: Path, start: Path, threads: int = 0, scale: float = 1.0) -> Path:
    """Run every pass of `LINEAGE` under `root` from `start`, skipping those done before; the last model."""
    previous = start
    for number, step in enumerate(LINEAGE, 1):
        where = f"pass {number}/{len(LINEAGE)} {step.name} (shipped in {step.shipped_in})"
        if (step.model(root) / checkpoint.CONFIG_FILE).exists():
            logger.info("%s: done before, skipped", where)
        else:
            argv = [a.replace("{prev}", str(previous)) for a in step.args]
            argv += ["--out", str(root / step.name), "--threads", str(threads), "--scale", str(scale)]
            logger.info("%s: train %s", where, " ".join(argv))
            train_main(argv)
        previous = step.model(root)
    return previous


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vlm_engine.train.lineage", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--root", type=Path, required=True, help="one run directory a pass under it (resumable)"
    )
    parser.add_argument(
        "--start", type=Path, help=f"start checkpoint (default: the one of commit {START_COMMIT})"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--scale", type=float, default=1.0, help="scale every stage's steps (smoke runs)")
    parser.add_argument("--ship", type=Path, help="copy the last model here")
    parser.add_argument(
        "--eval", type=int, default=100, help="held-out samples per task scored when shipping"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    start = args.start or start_from_git(args.root / "start")
    final = replay(args.root, start, args.threads, args.scale)
    if args.ship:
        before_last = LINEAGE[-2].model(args.root)
        report = evaluate(args.root / LINEAGE[-1].name, args.eval, start=before_last) if args.eval else None
        ship(final, args.ship, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
