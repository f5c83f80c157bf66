"""The project's own decoder-only language model: RoPE, RMSNorm, SwiGLU, grouped-query attention, KV cache.

Design choices:
- Llama's block in ~150 lines: pre-norm RMSNorm, rotary position embeddings indexed by explicit position
  ids (so left-padded batches keep every row's positions from 0), grouped-query attention through SDPA's
  `enable_gqa`, SwiGLU feed-forward, tied input/output embeddings by default.
- The KV cache is preallocated to the generation's final length (nanochat): decoding writes one slice per
  step instead of concatenating, and the attention reads a view of the filled part.
- Masks: a (batch, keys) padding mask combined with causality; a query always sees itself, so the rows of
  left padding never attend to nothing (their outputs are ignored).
- The decoder knows nothing of images. The cross-attention projector passes `mix(i, hidden)`, applied
  before block i: that is where Flamingo's gated layers interleave with the language model.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from vlm_engine.model.config import LanguageConfig
from vlm_engine.model.layers import SwiGLU

Mix = Callable[[int, torch.Tensor], torch.Tensor]


class KVCache:
    """Keys and values of every layer, (batch, kv_heads, capacity, head_dim), filled up to `length`."""

    def __init__(self, num_layers: int, capacity: int) -> None:
        self.capacity = capacity
        self.length = 0
        self.keys: list[torch.Tensor | None] = [None] * num_layers
        self.values: list[torch.Tensor | None] = [None] * num_layers

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write this step's k, v after the filled part; return all keys and values so far."""
        end = self.length + k.shape[2]
        if end > self.capacity:
            raise ValueError(f"KV cache capacity {self.capacity} exceeded ({end} positions)")
        if self.keys[layer] is None:
            shape = (k.shape[0], k.shape[1], self.capacity, k.shape[3])
            self.keys[layer] = k.new_empty(shape)
            self.values[layer] = v.new_empty(shape)
        keys, values = self.keys[layer], self.values[layer]
        keys[:, :, self.length : end] = k
        values[:, :, self.length : end] = v
        return keys[:, :, :end], values[:, :, :end]

    def advance(self, steps: int) -> None:
        self.length += steps


def rope_angles(position_ids: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin, (batch, 1, length, head_dim), of the rotate-half formulation at `position_ids`.

    Computed in float32 on every call (a few hundred multiplies): no table to outgrow, and no bfloat16
    rounding of the angles when the model runs in bfloat16.
    """
    exponents = torch.arange(0, head_dim, 2, dtype=torch.float32, device=position_ids.device) / head_dim
    angles = position_ids[..., None].float() / (theta**exponents)
    angles = torch.cat([angles, angles], dim=-1).unsqueeze(1)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate (batch, heads, length, head_dim) by per-position (batch, 1, length, head_dim) angles."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


def attention_mask(padding: torch.Tensor | None, queries: int, keys: int) -> tuple[torch.Tensor | None, bool]:
    """(mask, is_causal) for SDPA: causal over `keys` of which the last `queries` are new.

    With no padding the mask is left to SDPA's `is_causal` (or nothing, for one new token).
    """
    if padding is None or bool(padding.all()):
        return None, queries > 1
    offset = keys - queries
    q_idx = torch.arange(queries, device=padding.device)[:, None] + offset
    k_idx = torch.arange(keys, device=padding.device)[None, :]
    mask = (k_idx <= q_idx) & padding[:, None, :].bool()
    return (mask | (k_idx == q_idx))[:, None], False


class SelfAttention(nn.Module):
    def __init__(self, config: LanguageConfig) -> None:
        super().__init__()
        self.num_heads = config.num_heads
        self.num_kv_heads = config.num_kv_heads
        self.head_dim = config.hidden_size // config.num_heads
        kv_dim = self.num_kv_heads * self.head_dim
        self.q = nn.Linear(config.hidden_size, config.hidden_size, bias=False)
        self.k = nn.Linear(config.hidden_size, kv_dim, bias=False)
        self.v = nn.Linear(config.hidden_size, kv_dim, bias=False)
        self.out = nn.Linear(config.hidden_size, config.hidden_size, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        padding: torch.Tensor | None,
        cache: KVCache | None,
        layer: int,
    ) -> torch.Tensor:
        batch, length, dim = x.shape
        q = self.q(x).view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k(x).view(batch, length, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v(x).view(batch, length, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k, v = cache.update(layer, k, v)
        mask, is_causal = attention_mask(padding, length, k.shape[2])
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal, enable_gqa=True)
        return self.out(out.transpose(1, 2).reshape(batch, length, dim))


class Block(nn.Module):
    def __init__(self, config: LanguageConfig) -> None:
        super().__init__()
        self.attn_norm = nn.RMSNorm(config.hidden_size, eps=config.norm_eps)
        self.attn = SelfAttention(config)
        self.mlp_norm = nn.RMSNorm(config.hidden_size, eps=config.norm_eps)
        self.mlp = SwiGLU(config.hidden_size, config.intermediate_size)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        padding: torch.Tensor | None,
        cache: KVCache | None,
        layer: int,
    ) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), cos, sin, padding, cache, layer)
        return x + self.mlp(self.mlp_norm(x))


class Decoder(nn.Module):
    def __init__(self, config: LanguageConfig) -> None:
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.num_layers))
        self.norm = nn.RMSNorm(config.hidden_size, eps=config.norm_eps)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        self.apply(_init_weights)

    @property
    def hidden_size(self) -> int:
        return self.config.hidden_size

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embed_tokens(ids)

    def new_cache(self, capacity: int) -> KVCache:
        return KVCache(self.config.num_layers, capacity)

    def forward(
        self,
        embeds: torch.Tensor,
        padding: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: KVCache | None = None,
        mix: Mix | None = None,
    ) -> torch.Tensor:
        """Final hidden states (batch, length, dim), normed, for `embeds` (batch, length, dim).

        `padding` (batch, past + length) marks real tokens over the whole sequence, cache included.
        """
        batch, length, _ = embeds.shape
        if position_ids is None:
            start = 0 if cache is None else cache.length
            position_ids = torch.arange(start, start + length, device=embeds.device).expand(batch, -1)
        cos, sin = rope_angles(
            position_ids, self.config.hidden_size // self.config.num_heads, self.config.rope_theta
        )
        cos, sin = cos.to(embeds.dtype), sin.to(embeds.dtype)
        x = embeds
        for i, block in enumerate(self.blocks):
            if mix is not None:
                x = mix(i, x)
            x = block(x, cos, sin, padding, cache, i)
        if cache is not None:
            cache.advance(length)
        return self.norm(x)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Next-token logits of (any selection of) final hidden states."""
        return self.lm_head(hidden)


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)
