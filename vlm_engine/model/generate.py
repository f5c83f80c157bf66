"""Batched generation: one prefill over left-padded prompts, then one token per step from the KV cache.

Design choices:
- Prompts of different lengths are left-padded, so every row's next token comes from the last column;
  an attention mask hides the padding and position ids count each row's real tokens from 0, so a row's
  output does not depend on what it was batched with.
- Greedy at temperature 0; otherwise temperature + nucleus (top-p) sampling from a generator seeded by
  `seed` (the same seed and batch give the same output).
- Structural tokens (bos, pad, image and turn markers) are never generated. With `constrain_boxes` a
  `BoxConstraint` masks the logits so that every box written is well formed.
- A row stops at eos, at a stop string (the text is cut before it) or at `max_new_tokens`; finished rows
  ride along, fed padding, until the batch is done.
- `use_cache=False` recomputes the whole sequence each step: slow, kept as the reference the cache is
  tested against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from vlm_engine.model.box_constraint import BoxConstraint
from vlm_engine.model.tokenizer import SightlineTokenizer
from vlm_engine.model.vlm import SightlineVLM


@dataclass(frozen=True)
class DecodeOptions:
    max_new_tokens: int = 128
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    constrain_boxes: bool = False
    use_cache: bool = True

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError("temperature must be >= 0 and top_p in (0, 1]")


@dataclass(frozen=True)
class Completion:
    ids: tuple[int, ...]  # every generated token, eos included
    text: str
    finish_reason: str  # "stop" (eos or a stop string) | "length"


def pick_tokens(
    logits: torch.Tensor, options: DecodeOptions, generator: torch.Generator | None
) -> torch.Tensor:
    """(batch,) next tokens from (batch, vocab) float logits."""
    if options.temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits / options.temperature, dim=-1)
    if options.top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        outside = sorted_probs.cumsum(dim=-1) - sorted_probs > options.top_p  # the top token always stays
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs.masked_fill(outside, 0.0))
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def _stop_cut(text: str, stop: Sequence[str]) -> int | None:
    """Where the first stop string starts in `text`, or None."""
    hits = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return min(hits) if hits else None


@torch.inference_mode()
def generate(
    model: SightlineVLM,
    tokenizer: SightlineTokenizer,
    prompts: Sequence[Sequence[int]],
    visual: Sequence[torch.Tensor],
    options: DecodeOptions = DecodeOptions(),
) -> list[Completion]:
    """Completions of `prompts` (token ids); `visual[b]` is row b's image encodings, (tokens, dim)."""
    if len(prompts) != len(visual):
        raise ValueError("one visual tensor per prompt is needed")
    if not prompts:
        return []
    device, batch = model.device, len(prompts)
    width = max(len(p) for p in prompts)
    ids = torch.full((batch, width), tokenizer.pad_id, dtype=torch.long)
    padding = torch.zeros(batch, width, dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt) :] = torch.tensor(list(prompt), dtype=torch.long)
        padding[row, width - len(prompt) :] = 1
    ids, padding = ids.to(device), padding.to(device)
    positions = (padding.cumsum(dim=1) - 1).clamp(min=0)

    lm = model.language
    embeds, mix = model.prepare(ids, visual)
    cache = lm.new_cache(width + options.max_new_tokens) if options.use_cache else None
    logits = lm.logits(lm(embeds, padding, positions, cache, mix)[:, -1])

    vocab = logits.shape[-1]
    never = torch.zeros(vocab, dtype=torch.bool, device=device)
    never[[i for i in tokenizer.structural_ids if i != tokenizer.eos_id]] = True
    never[len(tokenizer) :] = True  # padded vocabulary rows of some transformers models
    constraint = BoxConstraint(tokenizer, vocab, batch, device) if options.constrain_boxes else None
    generator = None
    if options.temperature > 0 and options.seed is not None:
        generator = torch.Generator(device=device).manual_seed(options.seed)

    generated: list[list[int]] = [[] for _ in range(batch)]
    reasons = ["length"] * batch
    done = [False] * batch
    next_position = positions[:, -1:] + 1
    for step in range(options.max_new_tokens):
        logits = logits.float().masked_fill(never, float("-inf"))
        if constraint is not None:
            logits = logits.masked_fill(constraint.banned(options.max_new_tokens - step), float("-inf"))
        tokens = pick_tokens(logits, options, generator).tolist()
        if constraint is not None:
            constraint.update(tokens)
        for row, token in enumerate(tokens):
            if done[row]:
                continue
            generated[row].append(token)
            if token == tokenizer.eos_id or (
                options.stop and _stop_cut(tokenizer.decode(generated[row]), options.stop) is not None
            ):
                done[row], reasons[row] = True, "stop"
        if all(done) or step == options.max_new_tokens - 1:
            break
        feed = torch.tensor([tokenizer.pad_id if d else t for d, t in zip(done, tokens, strict=True)])
        new_embeds = lm.embed(feed.to(device)[:, None])
        padding = torch.cat([padding, padding.new_ones(batch, 1)], dim=1)
        if cache is not None:
            logits = lm.logits(lm(new_embeds, padding, next_position, cache, mix)[:, -1])
        else:
            embeds = torch.cat([embeds, new_embeds], dim=1)
            positions = torch.cat([positions, next_position], dim=1)
            logits = lm.logits(lm(embeds, padding, positions, None, mix)[:, -1])
        next_position = next_position + 1

    completions = []
    for row in range(batch):
        text = tokenizer.decode(generated[row])
        cut = _stop_cut(text, options.stop)
        completions.append(
            Completion(tuple(generated[row]), text if cut is None else text[:cut], reasons[row])
        )
    return completions
