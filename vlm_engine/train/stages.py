"""The stages of the recipe, each a resumable run of `loop.run` over freshly generated samples.

Design choices:
- Stage 0 (tiny recipe only) pretrains the parts from scratch: the encoder with dense per-patch losses
  plus a contrastive image-caption loss, then the decoder as a language model on the generators' text
  (the "language" mix: half spatial answers, whose verdict compares two boxes' coordinates; measured, a
  decoder learning from scratch had not learnt that comparison after 64k of them, so stage 2's "tuning"
  mix gives spatial questions a quarter of its samples, and there the comparison is learnt, partly).
- Stage 1 aligns: encoder and decoder frozen, the projector learns from captions.
- Stage 2 instruction-tunes: projector and decoder on the task mix; scenes grow from 3 to 12 shapes over
  `curriculum_steps` (one object to many: boxes first, crowds later). With `stage2_encoder_lr_scale` > 0 the
  encoder is tuned too, at that fraction of the stage's rate (0: frozen, as LLaVA does).
- Stage 2v (when the recipe has one) drills the spatial verdict: the decoder alone, on text only (each
  question and true answer with no picture), scored on the verdict alone, at stage 2's rate. Measured,
  stages 2-2b's tens of thousands of spatial answers left the comparison of the two boxes at 0.76 on true
  boxes (a verdict weighed 10x in 2b did not move it), while 300 such steps took it to 0.965, and it
  carries to pictures; what the drill costs the other tasks, stage 2b wins back.
- Stage 2b (when the recipe has one) tunes the same parts further at full crowding on its own mix and
  sample stream: a second, gentler pass over the tasks the model is weakest at, with `verdict_drill`
  text-only verdicts a step beside it so the comparison stage 2v taught is kept.
- Stage 3 is DPO on (chosen, rejected) answers against the frozen model before it, plus the chosen answers'
  NLL (a token mean per picture count, weighed by its share of rows, as in stages 1-2). Presence pairs
  about an object that is there (chosen "yes": a miss, not a hallucination, is what they reject) are
  thinned to `Recipe.dpo_present_keep`: kept symmetric, DPO raised hallucination on a strong stage 2.
  With `Recipe.dpo_present_seen` the pairs about a present object that the reference model answers "no"
  to are dropped as well: measured, its misses are objects too small for it to resolve, confidently
  missed, and a pair's gradient is largest where the model is most wrong, so those few pairs teach most
  of what the present-object pairs teach: to say "yes" about what it cannot see.
- A step's loss is the mean over its picture counts (stills, 6-frame videos), each weighed by its share
  of the step's rows, of that count's token mean of the answer loss (or, with `Recipe.answer_weighting`
  "sample", of each answer's mean; measured, that halves the box tokens' share and costs grounding 0.69 ->
  0.41) plus its mean alignment and matching losses: the loss the shipped model was trained with.
- Rows are padded in a few groups of similar length (`batches.padded_groups`), a speed-up only: each
  group's terms are sums with what they are means over (`LossSums`), added up per picture count before
  dividing, so the loss is the one a single batch per picture count gives (a test holds them equal).
- Each stage ends in a loadable checkpoint (`checkpoint.save`) in its own directory; a stage whose
  checkpoint exists is skipped, one with a `state.pt` resumes.
"""

from __future__ import annotations

import copy
import logging
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vlm_engine.model import checkpoint
from vlm_engine.model.tokenizer import IGNORE_INDEX, SightlineTokenizer, encode_example
from vlm_engine.model.vlm import SightlineVLM
from vlm_engine.train import loop
from vlm_engine.train.batches import (
    Batch,
    collate,
    pad_rows,
    padded_groups,
    split_by_length,
    verdict_mask,
)
from vlm_engine.train.data import generate_samples
from vlm_engine.train.data import tasks as task_builders
from vlm_engine.train.data.dense import dense_targets, referent_map
from vlm_engine.train.data.mix import MAX_OBJECTS
from vlm_engine.train.data.things import COLOURS, KINDS, Sample
from vlm_engine.train.heads import ContrastiveHeads, DenseHeads
from vlm_engine.train.losses import (
    answer_sum,
    contrastive_loss,
    dense_loss,
    dpo_loss,
    sequence_logprobs,
    token_losses,
)
from vlm_engine.train.recipe import Recipe

logger = logging.getLogger(__name__)

STAGES = ("stage0", "stage1", "stage2", "stage2v", "stage2b", "stage3")
# Each stage's sample stream; later stages' come last so that the others draw what they always drew.
_SEED_STREAMS = ("stage0", "stage1", "stage2", "stage3", "stage2b", "stage2v")
WORD_ALIGNMENT_WEIGHT = 0.5
MATCH_WEIGHT = 1.0
PREFERENCE_TASKS = ("ground", "find_all", "count", "presence", "spatial", "chart_value", "temporal")


def _seed(recipe: Recipe, stage: str, step: int) -> int:
    return recipe.seed * 1_000_003 + _SEED_STREAMS.index(stage) * 10_000_019 + step


def _size(recipe: Recipe) -> int:
    """Pictures are generated at the encoder's input size."""
    return recipe.model.vision.image_size


def _set_trainable(model: SightlineVLM, vision: bool, projector: bool, language: bool) -> None:
    for part, on in ((model.vision, vision), (model.projector, projector), (model.language, language)):
        part.requires_grad_(on)
        part.train(on)


def encode_pictures(model: SightlineVLM, batch: Batch, train_encoder: bool) -> torch.Tensor:
    """(images, visual tokens, lm dim): the projector's output for every picture of the batch."""
    pixels = model.pixel_values(list(batch.pixels))
    with torch.set_grad_enabled(train_encoder):
        features, grid = model.vision(pixels)
    return model.projector(features, grid)


def split_rows(encoded: torch.Tensor, batch: Batch) -> list[torch.Tensor]:
    """Each row's pictures' visual tokens, concatenated."""
    rows, taken = [], 0
    for count in batch.images_per_row:
        rows.append(encoded[taken : taken + count].reshape(-1, encoded.shape[-1]))
        taken += count
    return rows


def visual_rows(model: SightlineVLM, batch: Batch, train_encoder: bool) -> list[torch.Tensor]:
    return split_rows(encode_pictures(model, batch, train_encoder), batch)


def word_ids(tokenizer: SightlineTokenizer) -> dict[str, int]:
    """The token that starts each colour and kind word as it appears mid-sentence (" red", " circle")."""
    return {word: tokenizer.encode(f" {word}")[0] for word in (*COLOURS, *KINDS[1:])}


@dataclass
class Auxiliary:
    """Training-only targets and head beside the answer loss (stages 1-2), one value per visual token."""

    words: torch.Tensor  # (visual tokens, 2): colour and kind word ids of what the token covers, or -100
    referents: torch.Tensor  # (visual tokens,): 1/0 the token covers what the question is about; -1 n/a
    match_head: nn.Linear  # reads a visual token's final hidden state: "is this what is asked about?"


def auxiliary_targets(
    samples: Sequence[Sample], words: dict[str, int], grid: int, match_head: nn.Linear
) -> Auxiliary:
    word_rows, referent_rows = [], []
    for sample in samples:
        for picture in sample.pictures:
            dense = dense_targets(picture, grid)
            colour = [words[COLOURS[c - 1]] if c else IGNORE_INDEX for c in dense.colour.reshape(-1)]
            kind = [words[KINDS[k]] if k else IGNORE_INDEX for k in dense.kind.reshape(-1)]
            word_rows.append(torch.tensor([colour, kind]).T)
            if sample.referents is None or len(sample.pictures) > 1:
                referent_rows.append(torch.full((grid * grid,), -1.0))
            else:
                size = picture.pixels.shape[0]
                referent_rows.append(torch.from_numpy(referent_map(sample.referents, size, grid).reshape(-1)))
    return Auxiliary(torch.cat(word_rows), torch.cat(referent_rows), match_head)


def word_alignment_sums(
    model: SightlineVLM, encoded: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each visual token, read through the (tied) output embeddings, should name the colour and the kind of
    what it covers: this puts visual tokens next to the words questions use, from the first step. Returns
    the cross-entropy summed per target column and each column's count of tokens with a target."""
    logits = model.language.logits(encoded.reshape(-1, encoded.shape[-1])).float()
    sums = torch.stack(
        [
            F.cross_entropy(logits, targets[:, column], ignore_index=IGNORE_INDEX, reduction="sum")
            for column in range(targets.shape[1])
        ]
    )
    return sums, (targets != IGNORE_INDEX).sum(dim=0)


@dataclass
class LossSums:
    """Stages 1-2's loss terms over some rows, each a sum with the count it is a mean over, so the length
    groups of one picture count add up to what one batch of them gives before `mean` divides."""

    answers: torch.Tensor
    answer_count: int  # label tokens (token mean) or rows (sample mean)
    alignment: torch.Tensor  # (2,): colour and kind words
    alignment_count: torch.Tensor  # (2,)
    matching: torch.Tensor
    matching_count: int

    def __add__(self, other: LossSums) -> LossSums:
        return LossSums(
            self.answers + other.answers,
            self.answer_count + other.answer_count,
            self.alignment + other.alignment,
            self.alignment_count + other.alignment_count,
            self.matching + other.matching,
            self.matching_count + other.matching_count,
        )

    def mean(self) -> torch.Tensor:
        """The answer mean plus the weighted alignment (a column without targets adds nothing) and matching
        means."""
        present = self.alignment_count > 0
        alignment = (self.alignment[present] / self.alignment_count[present]).sum()
        matching = self.matching / max(1, self.matching_count)
        answers = self.answers / max(1, self.answer_count)
        return answers + WORD_ALIGNMENT_WEIGHT * alignment + MATCH_WEIGHT * matching


def loss_sums(
    model: SightlineVLM,
    batch: Batch,
    loc_ids: torch.Tensor,
    sigma: float,
    auxiliary: Auxiliary,
    train_encoder: bool = False,
    per_sample: bool = False,
) -> LossSums:
    """The answer loss summed (as `losses.answer_sum` says), the word alignment of the visual tokens and
    the per-token matching loss (question-first prompts let each visual token read the question and say
    whether it holds what is asked about: the dense signal that makes a from-scratch decoder use the
    picture), each with its count."""
    encoded = encode_pictures(model, batch, train_encoder)
    full = model(batch.input_ids, split_rows(encoded, batch))
    hidden = full[:, :-1]
    targets = batch.labels[:, 1:]
    scored = targets != IGNORE_INDEX
    losses = token_losses(model.language.logits(hidden[scored]).float(), targets[scored], loc_ids, sigma)
    rows = len(batch.images_per_row)
    answers = answer_sum(losses, scored.nonzero()[:, 0], rows, per_sample)
    alignment, alignment_count = word_alignment_sums(model, encoded, auxiliary.words)
    visual = full[batch.input_ids == model.config.image_token_id]
    known = auxiliary.referents >= 0
    logits = auxiliary.match_head(visual[known]).squeeze(-1).float()
    matching = F.binary_cross_entropy_with_logits(logits, auxiliary.referents[known], reduction="sum")
    return LossSums(
        answers,
        rows if per_sample else batch.label_tokens,
        alignment,
        alignment_count,
        matching,
        int(known.sum()),
    )


def stage0(
    recipe: Recipe, model: SightlineVLM, tokenizer: SightlineTokenizer, directory: Path
) -> list[float]:
    """Pretrain the encoder (dense + contrastive) and then the decoder (language modelling)."""
    settings = recipe.stage0_encoder
    vision_dim = recipe.model.vision.hidden_size
    grid = recipe.model.vision.grid[0]
    dense = DenseHeads(vision_dim)
    contrast = ContrastiveHeads(vision_dim, len(tokenizer))
    _set_trainable(model, vision=True, projector=False, language=False)

    def encoder_step(step: int) -> loop.StepResult:
        seed = _seed(recipe, "stage0", step)
        samples = generate_samples(settings.batch_size, seed, mix="instruct", size=_size(recipe))
        pictures = [s.pictures[0] for s in samples]
        rng = random.Random(seed)
        captions = [tokenizer.encode(task_builders.caption(rng, p).answer) for p in pictures]
        targets = [dense_targets(p, grid) for p in pictures]
        stacked = {
            name: torch.from_numpy(np.stack([getattr(t, name) for t in targets])).flatten(0, 2)
            for name in ("kind", "colour", "box", "covered", "centre", "value", "valued")
        }
        features, _ = model.vision(model.pixel_values([p.pixels for p in pictures]))
        terms = dense_loss(dense(features.reshape(-1, vision_dim)), stacked)
        offsets = torch.tensor([0, *np.cumsum([len(c) for c in captions])[:-1]])
        image_emb, text_emb = contrast(features, torch.tensor([i for c in captions for i in c]), offsets)
        terms["contrastive"] = contrastive_loss(image_emb, text_emb, contrast.log_scale) * 0.5
        loss = sum(terms.values())
        return (
            loss,
            len(pictures) * grid * grid,
            {k: float(v.detach()) for k, v in terms.items() if k in ("box", "centre")},
        )

    encoder_losses = loop.run(
        "stage0 encoder",
        {"vision": model.vision, "dense": dense, "contrast": contrast},
        settings,
        encoder_step,
        directory / "encoder",
    )

    lm_settings = recipe.stage0_language
    _set_trainable(model, vision=False, projector=False, language=True)

    def language_step(step: int) -> loop.StepResult:
        samples = generate_samples(
            lm_settings.batch_size, _seed(recipe, "stage0", 5_000_000 + step), mix=lm_settings.mix
        )
        rows = [
            [tokenizer.bos_id, *tokenizer.encode(f"{s.question} {s.answer}"), tokenizer.eos_id]
            for s in samples
        ]
        total, tokens = torch.zeros(()), 0
        for run in split_by_length([len(r) for r in rows], max_groups=3):  # the same mean, less padding
            ids = pad_rows([rows[i] for i in run], tokenizer.pad_id)
            hidden = model.language(model.language.embed(ids))[:, :-1]
            targets = ids[:, 1:]
            scored = targets != tokenizer.pad_id
            logits = model.language.logits(hidden[scored]).float()
            total = total + F.cross_entropy(logits, targets[scored], reduction="sum")
            tokens += int(scored.sum())
        return total / tokens, tokens, {}

    return encoder_losses + loop.run(
        "stage0 language", {"language": model.language}, lm_settings, language_step, directory / "language"
    )


@dataclass
class SupervisedLoss:
    """Stages 1-2's loss over one step's samples: per picture count, weighed by its share of the rows, the
    answer loss (its token mean, or its sample mean with `per_sample`) plus the auxiliary terms; rows
    padded in at most `max_groups` length groups, which leave the loss as it is."""

    model: SightlineVLM
    tokenizer: SightlineTokenizer
    match_head: nn.Linear
    train_encoder: bool = False
    per_sample: bool = False
    max_groups: int = 3

    def __post_init__(self) -> None:
        self.loc_ids = torch.tensor(self.tokenizer.loc_ids)
        self.words = word_ids(self.tokenizer)
        self.token_grid = round(self.model.visual_tokens_per_image**0.5)  # the square grid of visual tokens

    def __call__(self, samples: Sequence[Sample], sigma: float) -> tuple[torch.Tensor, int]:
        """(loss, label tokens) of `samples`."""
        placeholders = self.model.image_placeholders
        by_count: dict[int, LossSums] = {}
        rows = Counter(len(s.pictures) for s in samples)
        tokens = 0
        for group in padded_groups(samples, self.tokenizer, placeholders, self.max_groups):
            batch = collate(group, self.tokenizer, placeholders)
            auxiliary = auxiliary_targets(group, self.words, self.token_grid, self.match_head)
            sums = loss_sums(
                self.model, batch, self.loc_ids, sigma, auxiliary, self.train_encoder, self.per_sample
            )
            count = len(group[0].pictures)
            by_count[count] = by_count[count] + sums if count in by_count else sums
            tokens += batch.label_tokens
        loss = sum(sums.mean() * rows[count] / len(samples) for count, sums in by_count.items())
        return loss, tokens


def verdict_drill_loss(
    model: SightlineVLM, tokenizer: SightlineTokenizer, samples: Sequence[Sample]
) -> torch.Tensor:
    """The mean cross-entropy of spatial `samples`' verdicts read as text: each question and its true
    answer in the prompt template with no picture, only the verdict scored. The comparison of the two
    boxes' coordinates is then all the gradient says (measured: learnt from text, it carries to pictures)."""
    encoded = [encode_example(tokenizer, s.question, [], s.answer) for s in samples]
    ids = pad_rows([row for row, _ in encoded], tokenizer.pad_id)
    labels = pad_rows([labels for _, labels in encoded], IGNORE_INDEX)
    scored = verdict_mask(labels, tokenizer)[:, 1:]
    hidden = model.language(model.language.embed(ids))[:, :-1]
    logits = model.language.logits(hidden[scored]).float()
    return F.cross_entropy(logits, ids[:, 1:][scored])


def stage_supervised(
    recipe: Recipe, stage: str, model: SightlineVLM, tokenizer: SightlineTokenizer, directory: Path
) -> list[float]:
    """Stage 1 (projector only, captions), stage 2 (projector + decoder, the task mix) or stage 2b (the
    same parts again, on its own mix at full crowding)."""
    settings = {"stage1": recipe.stage1, "stage2": recipe.stage2, "stage2b": recipe.stage2b}[stage]
    if settings is None:
        raise ValueError(f"the recipe {recipe.name!r} has no {stage}")
    tuning = stage != "stage1"
    tune_encoder = tuning and recipe.stage2_encoder_lr_scale > 0
    _set_trainable(model, vision=tune_encoder, projector=True, language=tuning)
    match_head = nn.Linear(recipe.model.language.hidden_size, 1)
    step_loss = SupervisedLoss(
        model, tokenizer, match_head, tune_encoder, per_sample=recipe.answer_weighting == "sample"
    )

    def step_fn(step: int) -> loop.StepResult:
        grow = min(1.0, step / recipe.curriculum_steps)
        crowd = round(3 + (MAX_OBJECTS - 3) * grow) if stage == "stage2" else MAX_OBJECTS
        samples = generate_samples(
            settings.batch_size,
            _seed(recipe, stage, step),
            settings.mix,
            size=_size(recipe),
            max_objects=crowd,
        )
        loss, tokens = step_loss(samples, settings.loc_sigma_at(step))
        if stage != "stage2b" or not recipe.verdict_drill:
            return loss, tokens, {}
        drill = generate_samples(recipe.verdict_drill, _seed(recipe, stage, 7_000_000 + step), mix="spatial")
        verdict = verdict_drill_loss(model, tokenizer, drill)
        return loss + verdict, tokens, {"verdict": float(verdict.detach())}

    modules = {"projector": model.projector, "language": model.language, "match": match_head}
    if tune_encoder:
        modules["vision"] = model.vision
    scales = {"vision": recipe.stage2_encoder_lr_scale}
    return loop.run(stage, modules, settings, step_fn, directory, lr_scales=scales)


def stage_verdict(
    recipe: Recipe, model: SightlineVLM, tokenizer: SightlineTokenizer, directory: Path
) -> list[float]:
    """Stage 2v: the decoder alone drills the spatial verdict on text (`verdict_drill_loss`)."""
    settings = recipe.stage2v
    if settings is None:
        raise ValueError(f"the recipe {recipe.name!r} has no stage2v")
    _set_trainable(model, vision=False, projector=False, language=True)

    def step_fn(step: int) -> loop.StepResult:
        samples = generate_samples(settings.batch_size, _seed(recipe, "stage2v", step), mix=settings.mix)
        return verdict_drill_loss(model, tokenizer, samples), len(samples), {}

    return loop.run("stage2v verdict", {"language": model.language}, settings, step_fn, directory)


def preference_samples(recipe: Recipe, step: int) -> list[Sample]:
    """Stage 3's pairs at `step`: the preference mix's samples that have a rejected answer, each
    present-object presence pair (chosen "yes", rejected a miss rather than a hallucination) kept with
    probability `recipe.dpo_present_keep`, every absent-object one kept."""
    settings = recipe.stage3
    seed = _seed(recipe, "stage3", step)
    mix = {name: recipe.preference_weights.get(name, 1.0) for name in PREFERENCE_TASKS}
    keep = random.Random(f"present-keep-{seed}")
    candidates = generate_samples(settings.batch_size * 2, seed, mix=mix, size=_size(recipe))
    return [
        s
        for s in candidates
        if s.rejected is not None
        and not (s.task == "presence" and s.answer == "yes" and keep.random() >= recipe.dpo_present_keep)
    ][: settings.batch_size]


def answer_logprobs(net: SightlineVLM, batch: Batch) -> torch.Tensor:
    """(rows,) the summed log-probability `net` gives each row's answer."""
    hidden = net(batch.input_ids, visual_rows(net, batch, train_encoder=False))
    return sequence_logprobs(net.language.logits(hidden), batch.labels)


def without_missed_presence(
    reference: SightlineVLM, tokenizer: SightlineTokenizer, samples: list[Sample]
) -> list[Sample]:
    """`samples` less the present-object presence pairs `reference` gets wrong (it gives the rejected "no"
    more probability than the chosen "yes")."""
    present = [s for s in samples if s.task == "presence" and s.answer == "yes"]
    if not present:
        return samples
    placeholders = reference.image_placeholders
    with torch.no_grad():
        chosen = answer_logprobs(reference, collate(present, tokenizer, placeholders))
        rejected = answer_logprobs(
            reference, collate(present, tokenizer, placeholders, answers=[s.rejected or "" for s in present])
        )
    missed = {id(s) for s, margin in zip(present, (chosen - rejected).tolist(), strict=True) if margin < 0}
    return [s for s in samples if id(s) not in missed]


def stage3(
    recipe: Recipe, model: SightlineVLM, tokenizer: SightlineTokenizer, directory: Path
) -> list[float]:
    settings = recipe.stage3
    reference = copy.deepcopy(model).eval().requires_grad_(False)
    _set_trainable(model, vision=False, projector=True, language=True)
    placeholders = model.image_placeholders

    def step_fn(step: int) -> loop.StepResult:
        samples = preference_samples(recipe, step)
        if recipe.dpo_present_seen:
            samples = without_missed_presence(reference, tokenizer, samples)
        groups = padded_groups(samples, tokenizer, placeholders)
        chosen_batches = [collate(group, tokenizer, placeholders) for group in groups]
        count_tokens: Counter[int] = Counter()  # the chosen NLL is a token mean per picture count
        for group, chosen in zip(groups, chosen_batches, strict=True):
            count_tokens[len(group[0].pictures)] += chosen.label_tokens
        count_rows = Counter(len(s.pictures) for s in samples)
        loss, accuracy = torch.zeros(()), 0.0
        for group, chosen in zip(groups, chosen_batches, strict=True):
            rejected = collate(group, tokenizer, placeholders, answers=[s.rejected or "" for s in group])
            with torch.no_grad():
                ref_c, ref_r = answer_logprobs(reference, chosen), answer_logprobs(reference, rejected)
            pol_c, pol_r = answer_logprobs(model, chosen), answer_logprobs(model, rejected)
            preference, correct = dpo_loss(pol_c, pol_r, ref_c, ref_r, recipe.dpo_beta)
            count = len(group[0].pictures)
            nll = -pol_c.sum() / max(1, count_tokens[count]) * count_rows[count] / len(samples)
            share = len(group) / len(samples)
            loss = loss + preference * share + recipe.dpo_nll_weight * nll
            accuracy += float(correct) * share
        return loss, sum(count_tokens.values()), {"pref_acc": accuracy}

    modules = {"projector": model.projector, "language": model.language}
    return loop.run("stage3 dpo", modules, settings, step_fn, directory)


def train(
    recipe: Recipe,
    tokenizer: SightlineTokenizer,
    model: SightlineVLM,
    out: Path,
    stages: tuple[str, ...] = STAGES,
) -> Path:
    """Run `stages` in order into `out/<stage>/`, each ending in a checkpoint; returns the last one."""
    last = None
    for stage in STAGES:
        directory = out / stage
        final = directory / "model"
        if (final / checkpoint.CONFIG_FILE).exists():
            model, _ = checkpoint.load(final)
            last = final
            continue
        if stage not in stages or getattr(recipe, stage, "") is None:  # an optional stage the recipe lacks
            continue
        torch.manual_seed(_seed(recipe, stage, 0))
        if stage == "stage0":
            stage0(recipe, model, tokenizer, directory)
        elif stage == "stage3":
            stage3(recipe, model, tokenizer, directory)
        elif stage == "stage2v":
            stage_verdict(recipe, model, tokenizer, directory)
        else:
            stage_supervised(recipe, stage, model, tokenizer, directory)
        model.eval()
        checkpoint.save(model, tokenizer, final)
        logger.info("%s done: %s", stage, final)
        last = final
    if last is None:
        raise ValueError(f"no stage ran or was found in {out}")
    return last
