"""`with_overrides` and the training command's `--from` / `--set`: a one-off variant of a run (a further
stage 2b from a shipped checkpoint, another seed) is a command line, and a wrong setting is refused by
name before anything trains."""

from __future__ import annotations

import functools

import pytest
import torch

from tests.conftest import REPO_ROOT
from vlm_engine.model import checkpoint
from vlm_engine.train.__main__ import main as train_main
from vlm_engine.train.recipe import recipe_tokenizer, tiny_recipe, with_overrides

SHIPPED = REPO_ROOT / "models" / "sightline-tiny"


@functools.cache
def recipe():
    return tiny_recipe(recipe_tokenizer(bpe_vocab_size=256))


def test_overrides_change_recipe_and_stage_settings_by_name():
    changed = with_overrides(
        recipe(),
        [
            "seed=11",
            "stage2b.steps=5000",
            "dpo_present_keep=0.5",
            "stage3.lr=1",
            'preference_weights={"count": 2}',
        ],
    )
    assert (changed.seed, changed.stage2b.steps, changed.dpo_present_keep) == (11, 5000, 0.5)
    assert changed.stage3.lr == 1.0 and isinstance(changed.stage3.lr, float)
    assert changed.preference_weights == {"count": 2}
    assert changed.stage2 == recipe().stage2 and recipe().seed == 0


@pytest.mark.parametrize(
    "override, says",
    [
        ("seed", "NAME=VALUE"),
        ("seeds=1", "not a setting"),
        ("stage9.steps=1", "not a stage"),
        ("stage2.step=1", "not a setting"),
        ("seed=eleven", "does not fit"),
        ("stage2=3", "does not fit"),
        ("dpo_present_keep=2", "within [0, 1]"),
    ],
)
def test_a_wrong_override_is_refused_by_name(override, says):
    with pytest.raises(ValueError, match=says.replace("[", r"\[").replace("]", r"\]")):
        with_overrides(recipe(), [override])


def test_the_command_runs_chosen_stages_from_a_trained_checkpoint(tmp_path):
    out = tmp_path / "run"
    tiny = ["stage2b.steps=2", "stage2b.batch_size=4", "stage3.steps=2", "stage3.batch_size=4", "seed=3"]
    args = ["--out", str(out), "--from", str(SHIPPED), "--stages", "stage2b,stage3"]
    assert train_main([*args, *(f"--set={s}" for s in tiny)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["stage2b", "stage3"]
    start, _ = checkpoint.load(SHIPPED)
    tuned, _ = checkpoint.load(out / "stage3" / "model")
    for name, weight in start.vision.state_dict().items():  # frozen in stages 2b and 3
        assert torch.equal(weight, tuned.vision.state_dict()[name]), name
    moved = [
        n
        for n, w in start.language.state_dict().items()
        if not torch.equal(w, tuned.language.state_dict()[n])
    ]
    assert moved


def test_the_command_refuses_a_bad_setting_or_two_starting_points(tmp_path):
    for extra in (["--set", "stage2b.stepz=2"], ["--decoder-from", str(SHIPPED)]):
        with pytest.raises(SystemExit):
            train_main(["--out", str(tmp_path / "run"), "--from", str(SHIPPED), *extra])
    assert not (tmp_path / "run").exists()
