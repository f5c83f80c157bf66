"""The project's own ViT: patch embedding, 2D position embeddings for any grid, pre-norm blocks.

Design choices:
- Position embeddings are learned on the base grid (image_size / patch_size per side) and initialised
  with 2D sine-cosine values (MAE), so the x and y of every patch are readable from step 0: boxes learned
  from scratch need a strong 2D position signal.
- For another grid (a tile of a different size, a wide image) the table is resized bicubically (DINOv2),
  so one encoder serves any input whose sides are multiples of the patch size.
- No CLS token: the projectors consume the patch tokens only.
- The patch stem is a strided convolution (ViT) or, with `stem="conv"`, stride-2 3x3 convolutions down to
  the same grid (Xiao et al. 2021, "Early convolutions help transformers see better"): each patch feature
  then sees past its own 8 px, so a 6-px shape cut by a patch edge is still seen whole.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vlm_engine.model.config import PatchStem, VisionConfig
from vlm_engine.model.layers import TransformerBlock


def sincos_2d(rows: int, cols: int, dim: int) -> torch.Tensor:
    """(rows * cols, dim) fixed 2D sine-cosine position codes: half the channels for y, half for x."""
    if dim % 4:
        raise ValueError(f"2D sine-cosine codes need dim divisible by 4, got {dim}")
    quarter = dim // 4
    freqs = 1.0 / (10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter))
    ys, xs = torch.meshgrid(
        torch.arange(rows, dtype=torch.float64), torch.arange(cols, dtype=torch.float64), indexing="ij"
    )
    parts = []
    for coord in (ys.reshape(-1), xs.reshape(-1)):
        angles = coord[:, None] * freqs[None, :]
        parts += [angles.sin(), angles.cos()]
    return torch.cat(parts, dim=1).float()


def conv_stem(patch_size: int, dim: int) -> nn.Sequential:
    """log2(patch_size) stages of two 3x3 convolutions (the first with stride 2), each with GroupNorm and
    GELU, channels doubling up to `dim`, then a 1x1 convolution to `dim`: the grid of a strided patch
    embedding, from overlapping receptive fields (31 px at 8-px patches)."""
    layers: list[nn.Module] = []
    steps = patch_size.bit_length() - 1
    channels = 3
    for i in range(steps):
        out = max(dim >> (steps - 1 - i), 16)
        for stride in (2, 1):
            layers += [nn.Conv2d(channels, out, 3, stride=stride, padding=1), nn.GroupNorm(8, out), nn.GELU()]
            channels = out
    return nn.Sequential(*layers, nn.Conv2d(channels, dim, 1))


class ViT(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.config = config
        if config.stem is PatchStem.CONV:
            self.patch_embed = conv_stem(config.patch_size, config.hidden_size)
        else:
            self.patch_embed = nn.Conv2d(3, config.hidden_size, config.patch_size, stride=config.patch_size)
        rows, cols = config.grid
        self.pos_embed = nn.Parameter(sincos_2d(rows, cols, config.hidden_size).unsqueeze(0))
        depth = config.num_layers + config.feature_layer + 1  # blocks past the feature layer never run
        self.blocks = nn.ModuleList(
            TransformerBlock(config.hidden_size, config.num_heads, config.mlp_ratio) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(config.hidden_size) if config.feature_layer == -1 else nn.Identity()

    def position_embeddings(self, rows: int, cols: int) -> torch.Tensor:
        """(1, rows * cols, dim): the learned table, resized when the grid is not the base grid."""
        base_rows, base_cols = self.config.grid
        if (rows, cols) == (base_rows, base_cols):
            return self.pos_embed
        table = self.pos_embed.reshape(1, base_rows, base_cols, -1).permute(0, 3, 1, 2)
        table = F.interpolate(table.float(), size=(rows, cols), mode="bicubic", align_corners=False)
        return table.to(self.pos_embed.dtype).permute(0, 2, 3, 1).reshape(1, rows * cols, -1)

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """(batch, 3, H, W) normalised pixels -> (batch, rows * cols, dim) patch features and (rows, cols)."""
        patch = self.config.patch_size
        if pixels.shape[-1] % patch or pixels.shape[-2] % patch:
            raise ValueError(f"input {tuple(pixels.shape[-2:])} is not a multiple of the patch size {patch}")
        x = self.patch_embed(pixels)
        rows, cols = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2) + self.position_embeddings(rows, cols)
        for block in self.blocks:
            x = block(x)
        return self.norm(x), (rows, cols)
