"""The training losses.

Design choices:
- Location tokens get a soft target: a Gaussian over neighbouring bins (sigma about one input pixel)
  instead of a one-hot, so a box one pixel off is nearly as good as exact and the gradient says which way
  to move; every other token keeps the plain cross-entropy.
- Answer losses are a token mean (every answer token weighs alike) or a sample mean (each answer's mean,
  then the mean over samples). Under the token mean the one-token answers (a count, a yes/no, a chart
  value) carry 7% of a stage-2 step's signal though they are 38% of its samples; the sample mean gives
  them that 38% but halves the box tokens' share, and measured it costs more than it gives (README).
- Dense auxiliary losses (stage 0) supervise every patch: kind, colour, box, centre and value.
- Contrastive image-text loss (CLIP's symmetric InfoNCE) over the batch.
- DPO (Rafailov et al.) on summed answer log-probabilities against a frozen reference, plus a small
  likelihood term on the chosen answer that keeps the policy from drifting off its own format.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vlm_engine.model.tokenizer import IGNORE_INDEX


def loc_soft_targets(bins: torch.Tensor, num_bins: int, sigma: float) -> torch.Tensor:
    """(n, num_bins) Gaussian rows centred on `bins`, each summing to 1."""
    grid = torch.arange(num_bins, device=bins.device, dtype=torch.float32)
    weights = torch.exp(-0.5 * ((grid[None, :] - bins[:, None].float()) / sigma) ** 2)
    return weights / weights.sum(dim=1, keepdim=True)


def token_losses(
    logits: torch.Tensor, targets: torch.Tensor, loc_ids: torch.Tensor, sigma: float
) -> torch.Tensor:
    """(n,) per position: cross-entropy; for location tokens the KL to the soft target.

    `logits` (n, vocab) float, `targets` (n,), `loc_ids` (bins,) the vocabulary ids of the bins in order
    (contiguous ids: bin b is `loc_ids[0] + b`).
    """
    log_probs = F.log_softmax(logits, dim=-1)
    first, bins = int(loc_ids[0]), loc_ids.numel()
    is_loc = (targets >= first) & (targets < first + bins)
    losses = -log_probs.gather(1, targets[:, None]).squeeze(1)
    if bool(is_loc.any()) and sigma > 0:
        soft = loc_soft_targets(targets[is_loc] - first, bins, sigma)
        entropy = -(soft * soft.clamp(min=1e-12).log()).sum(dim=1)  # KL = CE - H: 0 at a perfect fit
        losses = losses.clone()
        losses[is_loc] = -(soft * log_probs[is_loc, first : first + bins]).sum(dim=1) - entropy
    return losses


def answer_sum(losses: torch.Tensor, rows: torch.Tensor, num_rows: int, per_sample: bool) -> torch.Tensor:
    """Per-position `losses` of answer tokens whose row indices are `rows`, summed: as they are (divide by the
    step's label tokens for the token mean) or each row's mean (divide by the step's rows for the sample
    mean, where a one-token count weighs as much as a twelve-box answer)."""
    if not per_sample:
        return losses.sum()
    counts = torch.bincount(rows, minlength=num_rows).clamp(min=1)
    return (torch.zeros(num_rows, dtype=losses.dtype).index_add(0, rows, losses) / counts).sum()


def sequence_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(rows,) summed log-probability of each row's labelled tokens; logits (rows, len, vocab) predict
    labels shifted by one."""
    logits, labels = logits[:, :-1].float(), labels[:, 1:]
    mask = labels != IGNORE_INDEX
    picked = torch.log_softmax(logits, dim=-1).gather(2, labels.clamp(min=0)[..., None]).squeeze(2)
    return (picked * mask).sum(dim=1)


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    beta: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, preference accuracy): -log sigmoid(beta * (policy margin - reference margin))."""
    margin = (policy_chosen - policy_rejected) - (reference_chosen - reference_rejected)
    return -F.logsigmoid(beta * margin).mean(), (margin > 0).float().mean()


def contrastive_loss(image: torch.Tensor, text: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of paired (rows, dim) embeddings."""
    image, text = F.normalize(image, dim=-1), F.normalize(text, dim=-1)
    logits = image @ text.T * log_scale.exp().clamp(max=100)
    target = torch.arange(image.shape[0], device=image.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def dense_loss(
    predictions: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Per-term losses of the dense heads; predictions and targets are (images * patches, ...) tensors."""
    covered, valued = targets["covered"], targets["valued"]
    out = {
        "kind": F.cross_entropy(predictions["kind"], targets["kind"]),
        "colour": F.cross_entropy(predictions["colour"], targets["colour"]),
        "centre": F.binary_cross_entropy_with_logits(predictions["centre"], targets["centre"]),
    }
    zero = predictions["box"].sum() * 0
    out["box"] = (
        F.l1_loss(predictions["box"][covered].sigmoid(), targets["box"][covered]) * 4
        if covered.any()
        else zero
    )
    out["value"] = (
        F.l1_loss(predictions["value"][valued].sigmoid(), targets["value"][valued]) * 4
        if valued.any()
        else zero
    )
    return out
