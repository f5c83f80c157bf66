"""Building blocks shared by the vision encoder, the projectors and the decoder.

Design choices:
- Every attention goes through `torch.nn.functional.scaled_dot_product_attention` (SDPA): fused flash or
  memory-efficient kernels on CUDA, a sound math kernel on CPU, one code path for both.
- Masks are boolean (True = may attend), shaped to broadcast to (batch, heads, queries, keys).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SwiGLU(nn.Module):
    """The gated feed-forward of Llama: down(silu(gate(x)) * up(x))."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.gate = nn.Linear(dim, hidden, bias=False)
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class GeluMLP(nn.Module):
    """Linear -> GELU -> Linear (ViT blocks, LLaVA's projector)."""

    def __init__(self, dim: int, hidden: int, out: int | None = None) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim if out is None else out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Attention(nn.Module):
    """Multi-head attention of `x` over `context` (itself when None); not causal, optional key mask.

    `bias=False` makes an all-zero context token produce a zero output, which the cross-attention projector
    uses to stand for "no image".
    """

    def __init__(self, dim: int, num_heads: int, context_dim: int | None = None, bias: bool = True) -> None:
        super().__init__()
        context_dim = dim if context_dim is None else context_dim
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim, bias=bias)
        self.k = nn.Linear(context_dim, dim, bias=bias)
        self.v = nn.Linear(context_dim, dim, bias=bias)
        self.out = nn.Linear(dim, dim, bias=bias)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        context = x if context is None else context
        batch, length, dim = x.shape
        q = self.q(x).view(batch, length, self.num_heads, -1).transpose(1, 2)
        k = self.k(context).view(batch, context.shape[1], self.num_heads, -1).transpose(1, 2)
        v = self.v(context).view(batch, context.shape[1], self.num_heads, -1).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(out.transpose(1, 2).reshape(batch, length, dim))


class TransformerBlock(nn.Module):
    """Pre-norm encoder block: x + attn(ln(x)), then x + mlp(ln(x)) (ViT, Q-Former self-attention)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = GeluMLP(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))
