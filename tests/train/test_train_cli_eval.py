"""`--eval` scores the model DPO started from beside stage 3: the run's own stage 2b or 2, else the
`--from` checkpoint the run started with."""

from __future__ import annotations

from tests.train.conftest import untrained_tiny
from vlm_engine.model import checkpoint
from vlm_engine.train.__main__ import evaluate


def test_eval_scores_the_start_checkpoint_when_the_run_has_no_stage_2(tmp_path):
    _, model, tokenizer, _ = untrained_tiny()
    start, out = tmp_path / "start", tmp_path / "run"
    checkpoint.save(model, tokenizer, start)
    checkpoint.save(model, tokenizer, out / "stage3" / "model")
    report = evaluate(out, 1, start=start)
    assert list(report) == ["start", "stage3"]
    assert report["start"]["metrics"] == report["stage3"]["metrics"]  # the same weights score the same

    checkpoint.save(model, tokenizer, out / "stage2" / "model")
    assert list(evaluate(out, 1, start=start)) == ["stage2", "stage3"]
