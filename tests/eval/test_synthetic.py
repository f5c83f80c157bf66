"""The synthetic suite's scoring: the generator's own answers score perfectly, the rejected ones do not,
and the whole suite runs end to end through a real backend."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO_ROOT
from tests.train.conftest import untrained_tiny
from vlm_engine.backends.base import Generation, SourceBox
from vlm_engine.backends.native import NativeBackend
from vlm_engine.eval import synthetic
from vlm_engine.eval.__main__ import main as eval_main
from vlm_engine.grounding import BoxDialect, parse_boxes
from vlm_engine.model import checkpoint


def as_generation(text: str) -> Generation:
    boxes = tuple(SourceBox(g.box, g.label) for g in parse_boxes(text, BoxDialect.SIGHTLINE, 64, 64))
    return Generation(text=text, boxes=boxes)


@pytest.fixture(scope="module")
def sets():
    return synthetic.held_out_sets(24, seed=1)


def test_true_answers_score_perfectly(sets):
    records = [synthetic.score(s, as_generation(s.answer)) for samples in sets.values() for s in samples]
    metrics = synthetic.summarise(records)
    for name in ("grounding_acc@0.5", "counting_exact", "pope_f1", "spatial_accuracy", "chart_within_5pct"):
        assert metrics[name] == 1.0, name
    assert {k for k in metrics if k.startswith("chart_within_5pct_")} == {
        f"chart_within_5pct_{kind}" for kind in ("bar", "slice", "line")
    }
    assert metrics["hallucination_rate"] == 0.0
    assert metrics["temporal_mean_iou"] == pytest.approx(1.0)
    assert 0.3 < metrics["pope_yes_ratio"] < 0.7
    assert metrics["pope_true_yes_share"] == metrics["pope_yes_ratio"]  # true answers: yes exactly when true


def test_rejected_answers_score_badly(sets):
    records = [
        synthetic.score(s, as_generation(s.rejected))
        for task in ("ground", "count", "presence", "spatial", "chart_value")
        for s in sets[task]
    ]
    metrics = synthetic.summarise(records)
    assert metrics["grounding_acc@0.5"] == 0.0
    assert metrics["counting_exact"] == 0.0
    assert metrics["pope_accuracy"] == 0.0 and metrics["hallucination_rate"] == 1.0
    assert metrics["chart_within_5pct"] == 0.0


def test_lenient_readers():
    assert synthetic.first_number("There are 7 circles.") == 7.0
    assert synthetic.yes_no(" Yes, there is.") == "yes" and synthetic.yes_no("maybe") == ""
    evidence = "<ref>red circle</ref><box><loc_1><loc_2><loc_3><loc_4></box>"
    assert (
        synthetic.yes_no(f"{evidence}<ref>no square</ref><box><loc_5><loc_6><loc_7><loc_8></box> no") == "no"
    )
    assert synthetic.yes_no(f"{evidence}") == ""
    assert synthetic.interval_iou((1, 3), (2, 4)) == pytest.approx(1 / 3)


def test_held_out_sets_do_not_repeat_training_samples():
    from vlm_engine.train.data import generate_samples

    held = synthetic.held_out_sets(10, tasks=("ground",))["ground"]
    train = generate_samples(10, seed=synthetic.SEED_OFFSET, mix="ground")
    assert {s.answer for s in held}.isdisjoint({s.answer for s in train})


def test_table_prints_models_side_by_side(sets):
    records = [synthetic.score(s, as_generation(s.answer)) for s in sets["presence"]]
    a = {"model": "stage2", "metrics": synthetic.summarise(records)}
    b = {"model": "stage3", "metrics": {"pope_f1": 0.5}}
    table = synthetic.format_table(a, b)
    assert "stage2" in table.splitlines()[0] and "stage3" in table.splitlines()[0]
    assert any(
        line.startswith("pope_f1") and "0.500" in line and ">= 0.90" in line for line in table.splitlines()
    )


def test_cli_scores_only_the_tasks_asked_for(tmp_path, capsys):
    out = tmp_path / "presence.json"
    shipped = REPO_ROOT / "models" / "sightline-tiny"
    args = ["--suite", "synthetic", "--model", str(shipped), "--n", "8", "--tasks", "presence"]
    assert eval_main([*args, "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    assert {r["task"] for r in written["records"]} == {"presence"} and len(written["records"]) == 8
    assert "grounding_acc@0.5" not in capsys.readouterr().out
    with pytest.raises(SystemExit):
        eval_main([*args[:-1], "presence,nonsense"])


def test_cli_pools_seeds(tmp_path):
    out = tmp_path / "pooled.json"
    shipped = REPO_ROOT / "models" / "sightline-tiny"
    args = ["--suite", "synthetic", "--model", str(shipped), "--tasks", "presence"]
    assert eval_main([*args, "--seed", "3,4", "--n", "4,6", "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["n"] == 10 and len(written["records"]) == 10
    assert written["metrics"] == synthetic.summarise(written["records"])
    assert {seed: r["n"] for seed, r in written["per_seed"].items()} == {"3": 4, "4": 6}
    alone = synthetic.run(NativeBackend.from_pretrained(shipped), n=4, seed=3, tasks=("presence",))
    assert written["per_seed"]["3"]["metrics"] == alone["metrics"]
    for bad in (
        ["--seed", "3,4", "--n", "4,5,6"],
        ["--seed", "3,3", "--n", "4"],
        ["--seed", "x", "--n", "4"],
    ):
        with pytest.raises(SystemExit):
            eval_main([*args, *bad])


def test_cli_scores_a_second_model_against_the_first_on_the_same_sets(tmp_path, capsys):
    _, model, tokenizer, _ = untrained_tiny()
    untrained = tmp_path / "untrained"
    checkpoint.save(model, tokenizer, untrained)
    out = tmp_path / "against.json"
    shipped = REPO_ROOT / "models" / "sightline-tiny"
    args = [
        "--suite",
        "synthetic",
        "--model",
        str(shipped),
        "--tasks",
        "presence",
        "--seed",
        "3,4",
        "--n",
        "6",
    ]
    assert eval_main([*args, "--against", str(untrained), "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    against, scored = written["against"], written["model"]
    assert [r["truth"] for r in against["records"]] == [r["truth"] for r in scored["records"]]
    assert len(scored["records"]) == 12
    alone = synthetic.run_pooled(NativeBackend.from_pretrained(shipped), [(3, 6), (4, 6)], ("presence",))
    assert scored["metrics"] == alone["metrics"]
    assert against["metrics"] != scored["metrics"]  # an untrained model does not answer as the shipped one
    header = capsys.readouterr().out.splitlines()[0]
    assert header.index("untrained") < header.index("sightline-tiny")
    with pytest.raises(SystemExit):
        eval_main(
            [
                "--suite",
                "synthetic",
                "--model",
                str(shipped),
                "--n",
                "6",
                "--agent",
                "--against",
                str(untrained),
            ]
        )
