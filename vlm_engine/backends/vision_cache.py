"""A bounded, thread-safe cache of visual features: N questions about one view encode it once.

Design choices:
- Keys are strings the caller composes from `ImageInput.cache_key` (content hash + pixel size) and the
  model's input geometry: equal keys mean equal encoder input, hence equal features. The view is not part
  of the key: two views of the same pixels read the same features.
- Bounded by bytes, not entries (a 448-px page and a 32-px thumbnail differ a hundredfold), evicting the
  least recently used. An entry larger than the whole budget is returned but not kept.
- Values are stored as compact copies: a row sliced from a batch tensor would otherwise pin the batch.
- One lock guards the bookkeeping only; features are computed outside it, so a slow encoder never blocks
  readers. Two threads missing the same key at once may both compute it (the second put is a no-op).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    evictions: int
    entries: int
    bytes: int


def tensor_bytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


class VisionCache:
    def __init__(self, max_bytes: int = 512 * 2**20) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._bytes = 0
        self._hits = self._misses = self._evictions = 0
        self._lock = threading.Lock()

    @property
    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, self._evictions, len(self._entries), self._bytes)

    def get(self, key: str) -> torch.Tensor | None:
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return value

    def put(self, key: str, value: torch.Tensor) -> None:
        value = value.detach().clone()
        size = tensor_bytes(value)
        with self._lock:
            if key in self._entries or size > self.max_bytes:
                return
            self._entries[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= tensor_bytes(evicted)
                self._evictions += 1

    def get_or_compute(
        self, keys: Sequence[str], compute: Callable[[list[int]], Sequence[torch.Tensor]]
    ) -> list[torch.Tensor]:
        """The value of every key; `compute(indices)` is called once with the indices (into `keys`) of the
        distinct keys that missed, and returns their values in that order. Repeated keys are computed once.
        """
        found: dict[str, torch.Tensor] = {}
        missing: list[int] = []
        pending: set[str] = set()
        repeats = 0
        for i, key in enumerate(keys):
            if key in found or key in pending:
                repeats += 1
                continue
            value = self.get(key)
            if value is None:
                missing.append(i)
                pending.add(key)
            else:
                found[key] = value
        with self._lock:
            self._hits += repeats
        if missing:
            computed = compute(missing)
            if len(computed) != len(missing):
                raise ValueError(f"compute returned {len(computed)} values for {len(missing)} keys")
            for i, value in zip(missing, computed, strict=True):
                found[keys[i]] = value
                self.put(keys[i], value)
        return [found[key] for key in keys]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
