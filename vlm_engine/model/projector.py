"""Projectors from vision features to the language model, chosen by `ProjectorConfig.kind`.

Design choices:
- One builder, `build_vision_projector` (LLaVA's shape), maps each kind to one small module and raises on
  anything else.
- Every projector maps (images, patches, vision_dim) to (images, tokens, lm_dim). `inline` says where those
  tokens go: into the context in place of `<image>` placeholders (mlp, pixel_shuffle_mlp, qformer), or
  to the gated cross-attention layers as "media" that never lengthen the context (cross_attn).
- pixel_shuffle_mlp folds s x s neighbouring patches into one token (s^2 fewer tokens; nanoVLM, InternVL);
  qformer emits a fixed number of learned queries whatever the grid (BLIP-2); cross_attn interleaves
  tanh-gated cross-attention before the decoder's blocks with gates at 0, so the language model is
  untouched at initialisation (Flamingo).
"""

from __future__ import annotations

import torch
from torch import nn

from vlm_engine.model.config import ProjectorConfig, ProjectorKind, VisionConfig
from vlm_engine.model.decoder import Mix
from vlm_engine.model.layers import Attention, GeluMLP, SwiGLU, TransformerBlock


class MLPProjector(nn.Module):
    """LLaVA-1.5: Linear -> GELU -> Linear on every patch."""

    inline = True

    def __init__(self, vision_dim: int, lm_dim: int) -> None:
        super().__init__()
        self.mlp = GeluMLP(vision_dim, lm_dim, lm_dim)

    def num_tokens(self, grid: tuple[int, int]) -> int:
        return grid[0] * grid[1]

    def forward(self, features: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        return self.mlp(features)


class PixelShuffleMLPProjector(nn.Module):
    """Space-to-depth over s x s patches, then the MLP: s^2 fewer visual tokens."""

    inline = True

    def __init__(self, vision_dim: int, lm_dim: int, factor: int) -> None:
        super().__init__()
        self.factor = factor
        self.mlp = GeluMLP(vision_dim * factor * factor, lm_dim, lm_dim)

    def num_tokens(self, grid: tuple[int, int]) -> int:
        return (grid[0] // self.factor) * (grid[1] // self.factor)

    def forward(self, features: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        n, _, dim = features.shape
        rows, cols, s = grid[0], grid[1], self.factor
        if rows % s or cols % s:
            raise ValueError(f"patch grid {rows}x{cols} is not divisible by the shuffle factor {s}")
        x = features.reshape(n, rows // s, s, cols // s, s, dim).permute(0, 1, 3, 2, 4, 5)
        return self.mlp(x.reshape(n, (rows // s) * (cols // s), s * s * dim))


class QFormerLayer(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.self_attn = TransformerBlock(dim, num_heads)
        self.query_norm = nn.LayerNorm(dim)
        self.context_norm = nn.LayerNorm(dim)
        self.cross_attn = Attention(dim, num_heads)

    def forward(self, queries: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        queries = queries + self.cross_attn(self.query_norm(queries), self.context_norm(features))
        return self.self_attn(queries)


class QFormerProjector(nn.Module):
    """BLIP-2: learned queries cross-attend to the patches; as many tokens as queries, whatever the grid."""

    inline = True

    def __init__(self, vision_dim: int, lm_dim: int, config: ProjectorConfig) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(1, config.num_queries, vision_dim) * 0.02)
        self.layers = nn.ModuleList(
            QFormerLayer(vision_dim, config.num_heads) for _ in range(config.num_layers)
        )
        self.norm = nn.LayerNorm(vision_dim)
        self.proj = nn.Linear(vision_dim, lm_dim)

    def num_tokens(self, grid: tuple[int, int]) -> int:
        return self.queries.shape[1]

    def forward(self, features: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        queries = self.queries.expand(features.shape[0], -1, -1)
        for layer in self.layers:
            queries = layer(queries, features)
        return self.proj(self.norm(queries))


class GatedCrossAttention(nn.Module):
    """Flamingo's GATED XATTN-DENSE: x + tanh(a) * xattn(x, media), then x + tanh(b) * ffw(x); a = b = 0."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.attn_norm = nn.RMSNorm(dim)
        self.attn = Attention(dim, num_heads, bias=False)
        self.attn_gate = nn.Parameter(torch.zeros(1))
        self.ff_norm = nn.RMSNorm(dim)
        self.ff = SwiGLU(dim, 4 * dim)
        self.ff_gate = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, media: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attn_gate.tanh() * self.attn(self.attn_norm(x), media, mask)
        return x + self.ff_gate.tanh() * self.ff(self.ff_norm(x))


class CrossAttnProjector(nn.Module):
    """Patches -> media tokens (MLP), plus the gated layers that read them from inside the decoder."""

    inline = False

    def __init__(self, vision_dim: int, lm_dim: int, lm_layers: int, config: ProjectorConfig) -> None:
        super().__init__()
        self.every = config.cross_attn_every
        self.mlp = GeluMLP(vision_dim, lm_dim, lm_dim)
        count = -(-lm_layers // self.every)
        self.layers = nn.ModuleList(GatedCrossAttention(lm_dim, config.num_heads) for _ in range(count))

    def num_tokens(self, grid: tuple[int, int]) -> int:
        return grid[0] * grid[1]

    def forward(self, features: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        return self.mlp(features)

    def mix(self, media: torch.Tensor, mask: torch.Tensor | None) -> Mix:
        """The decoder hook: before every `every`-th block, the gated layer reads `media` (batch, M, dim)."""

        def apply(block: int, x: torch.Tensor) -> torch.Tensor:
            if block % self.every:
                return x
            return self.layers[block // self.every](x, media, mask)

        return apply


Projector = MLPProjector | PixelShuffleMLPProjector | QFormerProjector | CrossAttnProjector


def build_vision_projector(
    config: ProjectorConfig, vision: VisionConfig, lm_dim: int, lm_layers: int
) -> Projector:
    kind = config.kind
    if kind is ProjectorKind.MLP:
        return MLPProjector(vision.hidden_size, lm_dim)
    if kind is ProjectorKind.PIXEL_SHUFFLE_MLP:
        return PixelShuffleMLPProjector(vision.hidden_size, lm_dim, config.shuffle_factor)
    if kind is ProjectorKind.QFORMER:
        return QFormerProjector(vision.hidden_size, lm_dim, config)
    if kind is ProjectorKind.CROSS_ATTN:
        return CrossAttnProjector(vision.hidden_size, lm_dim, lm_layers, config)
    raise ValueError(f"unknown projector type: {kind!r}")
