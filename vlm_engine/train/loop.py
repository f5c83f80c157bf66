"""One resumable optimisation loop for every stage, with a progress line.

Design choices:
- A stage's state (trainable weights, optimiser, step) is saved to `state.pt` every `save_every` steps and
  at the end; a restarted stage loads it and continues from that step. Data for step k comes from a seed
  derived from k, so a resumed run sees the same samples it would have seen.
- AdamW with linear warmup and cosine decay; gradients clipped at 1.0. One parameter group per module, so a
  module can learn at a fraction of the stage's rate (`lr_scales`: a pretrained encoder tuned gently).
- Progress: tqdm on stderr with the loss (running mean), label tokens per second and the ETA.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from vlm_engine.train.recipe import StageSettings

logger = logging.getLogger(__name__)

StepResult = tuple[torch.Tensor, int, dict[str, float]]  # loss, tokens in the step, extra figures


def lr_at(step: int, settings: StageSettings) -> float:
    if step < settings.warmup:
        return settings.lr * (step + 1) / settings.warmup
    progress = (step - settings.warmup) / max(1, settings.steps - settings.warmup)
    return settings.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def run(
    name: str,
    modules: dict[str, nn.Module],
    settings: StageSettings,
    step_fn: Callable[[int], StepResult],
    directory: Path,
    save_every: int = 200,
    lr_scales: dict[str, float] | None = None,
) -> list[float]:
    """Train the parameters of `modules` that require grad; returns the loss of every step run now."""
    directory.mkdir(parents=True, exist_ok=True)
    scales = lr_scales or {}
    groups = [
        {"params": [p for p in module.parameters() if p.requires_grad], "scale": scales.get(key, 1.0)}
        for key, module in modules.items()
    ]
    groups = [g for g in groups if g["params"]]
    params = [p for g in groups for p in g["params"]]
    optimizer = torch.optim.AdamW(groups, lr=settings.lr, weight_decay=0.01, betas=(0.9, 0.98))
    state_file = directory / "state.pt"
    start = 0
    if state_file.exists():
        state = torch.load(state_file, map_location="cpu", weights_only=True)
        for key, module in modules.items():
            module.load_state_dict(state["modules"][key])
        optimizer.load_state_dict(state["optimizer"])
        start = state["step"]
        logger.info("%s: resuming at step %d of %d", name, start, settings.steps)

    def save(step: int) -> None:
        torch.save(
            {
                "modules": {k: m.state_dict() for k, m in modules.items()},
                "optimizer": optimizer.state_dict(),
                "step": step,
            },
            state_file,
        )

    losses: list[float] = []
    running, tokens, began = None, 0, time.perf_counter()
    bar = tqdm(total=settings.steps, initial=start, desc=name, unit="step", dynamic_ncols=True)
    for step in range(start, settings.steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, settings) * group["scale"]
        loss, step_tokens, extra = step_fn(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        value = float(loss.detach())
        losses.append(value)
        running = value if running is None else 0.95 * running + 0.05 * value
        tokens += step_tokens
        rate = tokens / max(1e-9, time.perf_counter() - began)
        bar.set_postfix(
            {"loss": f"{running:.3f}", "tok/s": f"{rate:.0f}", **{k: f"{v:.3f}" for k, v in extra.items()}}
        )
        bar.update(1)
        if (step + 1) % save_every == 0:
            save(step + 1)
    bar.close()
    if start < settings.steps:
        save(settings.steps)
    return losses
