"""The shipped model's lineage replays as one command: a smoke run of the whole chain (one step a stage)
from an untrained tiny model, each pass from the model the one before it made, resumable, then shipped.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.train.conftest import untrained_tiny
from vlm_engine.model import checkpoint
from vlm_engine.train.lineage import LINEAGE, REPO, START_COMMIT, main, start_from_git


def _stages_run(run):
    return sorted(p.parent.parent.name for p in run.glob("*/model/" + checkpoint.CONFIG_FILE))


def test_the_chain_replays_pass_by_pass_resumes_and_ships(tmp_path):
    _, model, tokenizer, _ = untrained_tiny()
    start, root, shipped = tmp_path / "start", tmp_path / "lineage", tmp_path / "shipped"
    checkpoint.save(model, tokenizer, start)
    argv = ["--root", str(root), "--start", str(start), "--scale", "0.0001", "--threads", "1"]

    assert main([*argv, "--ship", str(shipped), "--eval", "0"]) == 0

    assert [p.name for p in sorted(root.iterdir())] == sorted(p.name for p in LINEAGE)
    assert _stages_run(root / "carried") == ["stage0", "stage1", "stage2", "stage2b", "stage3"]  # no 2v yet
    assert _stages_run(root / "fourth") == ["stage2b", "stage2v", "stage3"]
    assert _stages_run(root / "sixth") == ["stage3"]
    assert _stages_run(root / "seventh") == ["stage2b"]  # its 2b alone: the DPO after it took another seed
    assert _stages_run(root / "eighth") == ["stage3"]
    for name in (checkpoint.CONFIG_FILE, checkpoint.WEIGHTS_FILE, checkpoint.TOKENIZER_FILE):
        assert (shipped / name).read_bytes() == (LINEAGE[-1].model(root) / name).read_bytes()

    made = {p: p.stat().st_mtime_ns for p in root.glob("*/*/model/" + checkpoint.WEIGHTS_FILE)}
    assert main(argv) == 0  # started again: every pass is done, none retrains
    assert {p: p.stat().st_mtime_ns for p in made} == made


def test_the_chain_starts_from_the_committed_checkpoint(tmp_path):
    present = subprocess.run(["git", "cat-file", "-e", f"{START_COMMIT}^{{commit}}"], cwd=REPO, check=False)
    if present.returncode != 0:
        pytest.skip(f"commit {START_COMMIT} is not in this clone's history")
    model, tokenizer = checkpoint.load(start_from_git(tmp_path / "start"))
    assert model.config.vision.stem == "patch"  # the patch-stem model whose decoder the chain carries
    assert len(tokenizer) == model.config.language.vocab_size
