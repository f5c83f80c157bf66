"""A recipe: the model to build and the settings of each stage.

Design choices:
- `tiny_recipe` is the CPU recipe of `models/sightline-tiny`, about 110 minutes on two cores (a slower
  2-core machine takes about 3.5 hours): a 64 px input, a conv stem down to 8 px patches merged 2x2 (16
  visual tokens), a 4-layer ViT and a 4-layer decoder, every part trained here. The conv stem (measured
  against the strided patch embedding, 9,000 encoder steps each) names the shape under a patch 0.977 of the
  time instead of 0.91, at half the box error.
- `carried_decoder_recipe` puts a new encoder under a trained checkpoint's decoder (LLaVA swaps towers the
  same way): stage 0 trains the encoder only, and stages 1-3 re-tune on it, shorter than from scratch. Stage 2b goes on tuning after stage 2 at a third of its
  rate, sharp location targets and full crowds, on a mix that weighs grounding, spatial questions and
  chart values up (measured from the previous shipped model, 2,500 steps: grounding 0.66 -> 0.73,
  counting 0.68 -> 0.71, chart 0.49 -> 0.55 on 500 held-out questions a task; spatial level).
  Its sizes were picked from learning curves measured on this machine (README, "The own model and its
  training"). Stage 2v before it drills the spatial verdict on text alone at stage 2's rate (400 steps,
  the decoder only), and 2b keeps drilling it beside its own mix (`verdict_drill` rows a step): the
  comparison of two boxes, given the true boxes, went from 0.76 to 1.00 (README).
- `pretrained.real_size_recipe` builds the same VLM from transformers parts saved on disk (a SigLIP tower
  and a Qwen2.5 causal LM, say) for a GPU run; the stages are the same code.
- `with_overrides` changes a recipe's settings by name (`seed=11`, `stage2b.steps=5000`), each value
  parsed as JSON and held to the type the setting has, so a one-off variant of a run is a command line,
  not a script.
- The tokenizer is byte-level BPE trained on the text the generators write, and the location tokens'
  embeddings start as 1D sine-cosine codes of their bin: nearby bins start similar, so a box learned from
  scratch moves smoothly instead of guessing among 1000 unrelated tokens.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import torch

from vlm_engine.model import checkpoint
from vlm_engine.model.config import (
    LanguageConfig,
    PatchStem,
    ProjectorConfig,
    ProjectorKind,
    VisionConfig,
    VLMConfig,
)
from vlm_engine.model.tokenizer import SightlineTokenizer, train_tokenizer
from vlm_engine.model.vlm import SightlineVLM
from vlm_engine.train.data import generate_samples


@dataclass(frozen=True)
class StageSettings:
    steps: int
    batch_size: int
    lr: float
    warmup: int = 50
    mix: str = "instruct"
    loc_sigma: float = 16.0  # bins; 1000 bins over a 64 px input: about one pixel
    loc_sigma_end: float | None = None  # anneal to this over the stage's first half (None: constant)

    def loc_sigma_at(self, step: int) -> float:
        """The location targets' width at `step`: geometric from `loc_sigma` to `loc_sigma_end` over the
        first half of the stage, then held (wide targets early for smooth learning, sharp ones for precise
        boxes: measured, a model tuned at 16 bins reads boxes worse than at 1)."""
        if self.loc_sigma_end is None:
            return self.loc_sigma
        progress = min(1.0, step / max(1, self.steps / 2))
        return self.loc_sigma * (self.loc_sigma_end / self.loc_sigma) ** progress


@dataclass(frozen=True)
class Recipe:
    name: str
    model: VLMConfig
    stage0_encoder: StageSettings
    stage0_language: StageSettings
    stage1: StageSettings
    stage2: StageSettings
    stage3: StageSettings
    stage2b: StageSettings | None = None  # a second instruction tuning on the weak tasks (None: skipped)
    stage2v: StageSettings | None = None  # a text-only drill of the spatial verdict before 2b (None: skipped)
    dpo_beta: float = 0.1
    dpo_nll_weight: float = 0.2  # the chosen answers' NLL beside the preference loss (keeps them likely)
    preference_weights: dict[str, float] = field(default_factory=dict)  # task -> share of stage 3's pairs
    dpo_present_keep: float = 1.0  # share of present-object presence pairs stage 3 keeps (absent ones: all)
    dpo_present_seen: bool = False  # stage 3 drops the present-object pairs its reference model misses
    seed: int = 0
    curriculum_steps: int = 1500  # stage 2 grows scenes from 3 to 12 shapes over these steps
    stage2_encoder_lr_scale: float = 0.0  # stage 2 tunes the encoder at this fraction of its rate (0: frozen)
    answer_weighting: str = "token"  # stages 1-2 average answer losses per "token" or per "sample"
    verdict_drill: int = 0  # stage 2b: text-only spatial answers a step, scored on their verdict alone
    pretrained: dict[str, str] = field(default_factory=dict)  # real-size: vision/language part directories
    decoder_from: str | None = None  # a Sightline checkpoint whose decoder this recipe starts from

    def __post_init__(self) -> None:
        if self.answer_weighting not in ("sample", "token"):
            raise ValueError(f"answer_weighting must be 'sample' or 'token', not {self.answer_weighting!r}")
        if not 0.0 <= self.dpo_present_keep <= 1.0:
            raise ValueError(f"dpo_present_keep must be within [0, 1], not {self.dpo_present_keep}")
        if self.verdict_drill < 0:
            raise ValueError(f"verdict_drill must be 0 or more rows, not {self.verdict_drill}")

    def scaled(self, factor: float) -> Recipe:
        """The same recipe with every stage's steps scaled (the smoke test runs a sliver of it)."""

        def scale(s: StageSettings) -> StageSettings:
            return replace(s, steps=max(1, round(s.steps * factor)), warmup=max(1, round(s.warmup * factor)))

        return replace(
            self,
            stage0_encoder=scale(self.stage0_encoder),
            stage0_language=scale(self.stage0_language),
            stage1=scale(self.stage1),
            stage2=scale(self.stage2),
            stage2b=scale(self.stage2b) if self.stage2b else None,
            stage2v=scale(self.stage2v) if self.stage2v else None,
            stage3=scale(self.stage3),
            curriculum_steps=max(1, round(self.curriculum_steps * factor)),
        )


def recipe_tokenizer(bpe_vocab_size: int = 1024, seed: int = 0) -> SightlineTokenizer:
    """BPE trained on questions, answers and captions of the training mix (deterministic, offline)."""
    samples = generate_samples(3000, seed=10_000 + seed, mix="instruct")
    text = [f"{s.question} {s.answer}" for s in samples] + [s.answer for s in samples]
    return train_tokenizer(text, bpe_vocab_size)


def tiny_model_config(tokenizer: SightlineTokenizer) -> VLMConfig:
    return VLMConfig(
        vision=VisionConfig(
            image_size=64, patch_size=8, hidden_size=128, num_layers=4, num_heads=4, stem=PatchStem.CONV
        ),
        projector=ProjectorConfig(kind=ProjectorKind.PIXEL_SHUFFLE_MLP, shuffle_factor=2),
        language=LanguageConfig(
            vocab_size=len(tokenizer),
            hidden_size=192,
            num_layers=4,
            num_heads=4,
            num_kv_heads=2,
            intermediate_size=512,
            max_position=512,
        ),
        image_token_id=tokenizer.image_id,
    )


def tiny_recipe(tokenizer: SightlineTokenizer) -> Recipe:
    return Recipe(
        name="sightline-tiny",
        model=tiny_model_config(tokenizer),
        stage0_encoder=StageSettings(steps=9000, batch_size=32, lr=2e-3),
        stage0_language=StageSettings(steps=2000, batch_size=64, lr=2e-3, mix="language"),
        stage1=StageSettings(steps=300, batch_size=32, lr=2e-3, mix="captions"),
        stage2=StageSettings(steps=7000, batch_size=32, lr=1e-3, mix="tuning", loc_sigma_end=1.0),
        stage2b=StageSettings(steps=2500, batch_size=32, lr=3e-4, mix="focus", loc_sigma=1.0),
        stage2v=StageSettings(steps=400, batch_size=64, lr=1e-3, warmup=20, mix="spatial"),
        stage3=StageSettings(steps=200, batch_size=16, lr=5e-5),
        curriculum_steps=2000,
        dpo_nll_weight=1.0,
        # Hallucination is what DPO is for (presence a third of the pairs); chart pairs weigh as much, and
        # their chosen answers' NLL keeps the values DPO otherwise costs (measured 0.682 -> 0.646 vs 0.670).
        preference_weights={"presence": 3.0, "chart_value": 3.0},
        dpo_present_keep=0.7,  # fewer present-object pairs than absent: DPO then lowers hallucination
        verdict_drill=32,  # stage 2b keeps what stage 2v taught: 32 text-only verdicts a step
    )


def carried_decoder_recipe(base: Recipe, checkpoint_dir: str | Path) -> Recipe:
    """`base` with its decoder carried over from a trained Sightline checkpoint (a new encoder under a
    trained language model, as LLaVA swaps towers): stage 0 trains the encoder only, stage 1 aligns a
    fresh projector for twice as long, and stage 2 re-tunes for 3,000 steps at half the rate, location
    targets from 4 bins, scenes crowding fast (the decoder already writes boxes, counts and verdicts)."""
    return replace(
        base,
        stage0_language=replace(base.stage0_language, steps=0),
        stage1=replace(base.stage1, steps=base.stage1.steps * 2),
        stage2=replace(base.stage2, steps=3000, lr=base.stage2.lr / 2, loc_sigma=4.0),
        curriculum_steps=500,
        decoder_from=str(checkpoint_dir),
    )


def load_carried_decoder(model: SightlineVLM, checkpoint_dir: str | Path) -> None:
    """Copy the checkpoint's decoder into `model`; its language config must be the recipe's."""
    source, _ = checkpoint.load(checkpoint_dir)
    if source.config.language != model.config.language:
        raise ValueError(f"{checkpoint_dir}: its decoder is not this recipe's ({source.config.language})")
    model.language.load_state_dict(source.language.state_dict())


def with_overrides(recipe: Recipe, overrides: list[str]) -> Recipe:
    """`recipe` with each "NAME=VALUE" applied: NAME a recipe field or STAGE.FIELD of a stage's settings,
    VALUE JSON (a bare word is a string) of the type the setting already has (an int where a float is
    asked is fine; a setting that is None takes a number or a string). Raises ValueError naming what is
    wrong."""
    for override in overrides:
        name, equals, text = override.partition("=")
        if not equals:
            raise ValueError(f"an override is NAME=VALUE, not {override!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        stage, _, setting = name.rpartition(".")
        if not stage:
            recipe = _replaced(recipe, setting, value, name)
            continue
        stages = [f.name for f in fields(recipe) if isinstance(getattr(recipe, f.name), StageSettings)]
        if stage not in stages:
            raise ValueError(
                f"{name}: {stage!r} is not a stage of the recipe; its stages: {', '.join(stages)}"
            )
        recipe = replace(recipe, **{stage: _replaced(getattr(recipe, stage), setting, value, name)})
    return recipe


def _replaced(settings: object, setting: str, value: object, name: str) -> object:
    known = [f.name for f in fields(settings)]
    if setting not in known:
        raise ValueError(f"{name}: not a setting; known: {', '.join(known)}")
    current = getattr(settings, setting)
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    fits = isinstance(value, (int, float, str)) if current is None else type(value) is type(current)
    if not fits:
        kind = "unset" if current is None else f"a {type(current).__name__}"
        raise ValueError(f"{name}: {value!r} does not fit this setting ({kind})")
    return replace(settings, **{setting: value})


def init_location_embeddings(model: SightlineVLM, tokenizer: SightlineTokenizer) -> None:
    """Set the location tokens' embeddings to sine-cosine codes of their bin (own decoder only)."""
    table = model.language.embed_tokens.weight
    bins = len(tokenizer.loc_ids)
    dim = table.shape[1]
    position = torch.arange(bins, dtype=torch.float64)[:, None] / bins
    freqs = torch.pow(2.0, torch.linspace(0, math.log2(bins / 4), dim // 2, dtype=torch.float64))[None, :]
    codes = torch.cat([torch.sin(math.pi * position * freqs), torch.cos(math.pi * position * freqs)], dim=1)
    codes = codes / codes.norm(dim=1, keepdim=True) * table[:bins].norm(dim=1).mean().double()
    ids = torch.tensor(tokenizer.loc_ids)
    if not bool((ids == ids[0] + torch.arange(bins)).all()):
        raise ValueError("location tokens must have contiguous ids")
    with torch.no_grad():
        table[ids] = codes.to(table.dtype)


def build_model(recipe: Recipe, tokenizer: SightlineTokenizer) -> SightlineVLM:
    torch.manual_seed(recipe.seed)
    model = SightlineVLM(recipe.model)
    if recipe.pretrained:
        from vlm_engine.train.pretrained import load_pretrained_parts

        load_pretrained_parts(model, recipe)
    elif recipe.decoder_from:
        load_carried_decoder(model, recipe.decoder_from)
    else:
        init_location_embeddings(model, tokenizer)
    return model
