"""The vision-feature cache: hits and misses, LRU eviction by bytes, one compute per distinct key, threads."""

from __future__ import annotations

import threading

import pytest
import torch

from vlm_engine.backends.vision_cache import CacheStats, VisionCache, tensor_bytes

KB = 1024


def block(value: float, floats: int = 256) -> torch.Tensor:
    return torch.full((floats,), float(value))  # 1 KiB of float32


def test_hits_and_misses():
    cache = VisionCache(max_bytes=10 * KB)
    assert cache.get("a") is None
    cache.put("a", block(1))
    assert torch.equal(cache.get("a"), block(1))
    assert cache.stats == CacheStats(hits=1, misses=1, evictions=0, entries=1, bytes=KB)


def test_evicts_least_recently_used_by_bytes():
    cache = VisionCache(max_bytes=3 * KB)
    for key in "abc":
        cache.put(key, block(1))
    cache.get("a")  # b is now the least recently used
    cache.put("d", block(2))
    assert cache.get("b") is None and cache.get("a") is not None
    cache.put("big", block(3, floats=512))  # 2 KiB pushes out two more
    stats = cache.stats
    assert stats.bytes <= 3 * KB and stats.evictions == 3 and stats.entries == 2
    assert cache.get("big") is not None


def test_an_entry_over_the_budget_is_not_kept():
    cache = VisionCache(max_bytes=KB)
    cache.put("small", block(1))
    cache.put("huge", block(1, floats=1024))
    assert cache.get("huge") is None and cache.get("small") is not None


def test_stored_values_are_compact_copies():
    batch = torch.zeros(64, 256)
    cache = VisionCache()
    cache.put("row", batch[3])
    batch[3] = 7.0
    stored = cache.get("row")
    assert stored.sum() == 0 and tensor_bytes(stored) == KB
    assert stored.untyped_storage().nbytes() == KB


def test_get_or_compute_computes_each_distinct_miss_once():
    cache = VisionCache()
    cache.put("x", block(9))
    calls: list[list[int]] = []

    def compute(indices):
        calls.append(indices)
        return [block(i) for i in indices]

    keys = ["a", "x", "b", "a", "x"]
    values = cache.get_or_compute(keys, compute)
    assert calls == [[0, 2]]
    assert [v[0].item() for v in values] == [0, 9, 2, 0, 9]
    stats = cache.stats
    assert (stats.misses, stats.hits) == (2, 3)
    cache.get_or_compute(keys, compute)
    assert len(calls) == 1 and cache.stats.hits == 8
    with pytest.raises(ValueError, match="compute returned"):
        cache.get_or_compute(["new"], lambda indices: [])


def test_thread_safe_under_concurrent_use():
    cache = VisionCache(max_bytes=20 * KB)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            for i in range(300):
                key = f"k{(seed * 7 + i) % 40}"
                (value,) = cache.get_or_compute([key], lambda idx, key=key: [block(float(key[1:]))])
                assert value[0].item() == float(key[1:])
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stats = cache.stats
    assert stats.bytes == stats.entries * KB <= 20 * KB
    assert stats.hits + stats.misses == 6 * 300
