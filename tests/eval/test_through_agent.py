"""The synthetic suite through the agent, with the shipped tiny model: every task is scored by the bare
model's rules (temporal ones on clips written as video files), spatial questions answered from two boxes
beat the model's own verdicts, and the CLI prints both tables side by side."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO_ROOT
from vlm_engine.backends.native import NativeBackend
from vlm_engine.eval import synthetic, through_agent
from vlm_engine.eval.__main__ import main as eval_main

SHIPPED = REPO_ROOT / "models" / "sightline-tiny"
SPATIAL_THROUGH_AGENT = 0.8  # bench_spatial_route: 0.98 over 200 questions (the model alone 0.62)
TEMPORAL_IOU = 0.5  # frame search over the clip written at 1 fps


@pytest.fixture(scope="module")
def tiny() -> NativeBackend:
    return NativeBackend.from_pretrained(SHIPPED)


def test_every_agent_task_is_scored_and_spatial_beats_the_model(tiny):
    agent = through_agent.run(tiny, n=16, seed=8)
    model = synthetic.run(tiny, n=16, seed=8)  # the same questions: the agent draws them as the suite does
    metrics = agent["metrics"]
    for name in ("grounding_acc@0.5", "counting_exact", "pope_f1", "spatial_accuracy", "chart_within_5pct"):
        assert 0.0 <= metrics[name] <= 1.0, name
    assert "count_by_grounding_exact" in metrics and metrics["temporal_mean_iou"] >= TEMPORAL_IOU
    assert len(agent["records"]) == 16 * len(synthetic.TASKS)
    assert metrics["spatial_accuracy"] >= SPATIAL_THROUGH_AGENT
    assert metrics["spatial_accuracy"] > model["metrics"]["spatial_accuracy"]
    with pytest.raises(ValueError, match="unknown tasks: tempo"):
        through_agent.run(tiny, n=1, tasks=("tempo",))


def test_cli_prints_the_agent_beside_the_model(tmp_path, capsys):
    out = tmp_path / "eval.json"
    code = eval_main(
        ["--suite", "synthetic", "--model", str(SHIPPED), "--n", "3", "--agent", "--json", str(out)]
    )
    header = capsys.readouterr().out.splitlines()[0]
    assert code == 0 and "+ agent" in header
    written = json.loads(out.read_text())
    assert set(written) == {"model", "agent"} and written["agent"]["n"] == 3
