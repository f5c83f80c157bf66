"""Native-backend generation, side by side: `python bench/bench_generation.py`.

(1) Batching: 8 prompts of different lengths, each with its own image, generated in one batched call
    (left padding, one prefill, KV cache) against 8 sequential calls. Same greedy tokens either way;
    throughput in generated tokens per second. Target: batched >= 3x. Both box-constrained (the default);
    the batched call also runs unconstrained, to show what the constraint costs.
(2) Vision cache: 5 questions about one page image, asked one call after another, with the vision cache
    against without it (a zero-byte cache), and against a single question. Target: 5 questions with the
    cache take at most 2x one question.

Models are random-weight native VLMs saved to a temp dir and loaded through `NativeBackend.from_pretrained`
(speed does not depend on the weights). (1) uses a small model whose cost is mostly the per-step work of
the language model; (2) a page-sized encoder (448 px, 784 patches: a ViT-S/16-like tower), as real
document VLMs have, with a small language model. Each mode runs `--repeats` times interleaved; medians.
One torch thread by default: on the shared 2-core dev machine a second OpenMP thread mostly waits for a core
another process holds, which slows every mode several fold and blurs the comparison (`--threads 2` to see).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vlm_engine.backends.base import GenerationConfig, ImageInput, Prompt
from vlm_engine.backends.native import NativeBackend
from vlm_engine.backends.vision_cache import VisionCache
from vlm_engine.model import (
    LanguageConfig,
    ProjectorConfig,
    ProjectorKind,
    SightlineVLM,
    VisionConfig,
    VLMConfig,
    build_tokenizer,
    save,
)

QUESTIONS = [
    "What is the title of this page?",
    "Where is the table? Give its box.",
    "How many charts are on the page?",
    "Read the total of the invoice.",
    "Find the signature and give its box.",
]


def build_backend(
    vision: VisionConfig, language: dict, projector: ProjectorConfig, workdir: Path
) -> NativeBackend:
    tokenizer = build_tokenizer()
    config = VLMConfig(
        vision=vision,
        projector=projector,
        language=LanguageConfig(vocab_size=len(tokenizer), **language),
        image_token_id=tokenizer.image_id,
    )
    torch.manual_seed(0)
    path = save(SightlineVLM(config), tokenizer, workdir / f"bench-{vision.image_size}px")
    return NativeBackend.from_pretrained(path)


def describe(backend: NativeBackend) -> str:
    model, config = backend.model, backend.model.config
    millions = {
        part: sum(p.numel() for p in getattr(model, part).parameters()) / 1e6
        for part in ("vision", "projector", "language")
    }
    v, lm = config.vision, config.language
    return (
        f"vision ViT {v.image_size}px/{v.patch_size} d{v.hidden_size} x{v.num_layers} ({millions['vision']:.1f}M), "
        f"{config.projector.kind} -> {model.visual_tokens_per_image} visual tokens ({millions['projector']:.1f}M), "
        f"decoder d{lm.hidden_size} x{lm.num_layers} GQA {lm.num_heads}/{lm.num_kv_heads} "
        f"vocab {lm.vocab_size} ({millions['language']:.1f}M)"
    )


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bench_batching(backend: NativeBackend, repeats: int, new_tokens: int) -> None:
    rng = np.random.default_rng(0)
    size = backend.input_size
    prompts = [
        Prompt(
            " ".join(QUESTIONS[: 1 + i % len(QUESTIONS)]) + " Answer briefly." * (i % 3),
            (ImageInput.whole(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)),),
        )
        for i in range(8)
    ]
    config = GenerationConfig(max_new_tokens=new_tokens)
    unconstrained = GenerationConfig(max_new_tokens=new_tokens, constrain_boxes=False)
    backend.generate(prompts[:2], config)  # warm-up
    times: dict[str, list[float]] = {"sequential": [], "batched": [], "batched, unconstrained": []}
    tokens: dict[str, int] = {}
    for _ in range(repeats):
        backend.vision_cache.clear()
        seconds, outs = timed(lambda: [backend.generate([p], config)[0] for p in prompts])
        times["sequential"].append(seconds)
        tokens["sequential"] = sum(g.completion_tokens for g in outs)
        sequential_texts = [g.text for g in outs]
        backend.vision_cache.clear()
        seconds, outs = timed(lambda: backend.generate(prompts, config))
        times["batched"].append(seconds)
        tokens["batched"] = sum(g.completion_tokens for g in outs)
        if [g.text for g in outs] != sequential_texts:
            print("  warning: batched and sequential outputs differ")
        backend.vision_cache.clear()
        seconds, outs = timed(lambda: backend.generate(prompts, unconstrained))
        times["batched, unconstrained"].append(seconds)
        tokens["batched, unconstrained"] = sum(g.completion_tokens for g in outs)
    print(f"(1) batching: 8 prompts, {new_tokens} new tokens max; {describe(backend)}")
    rates = {}
    for mode in times:
        median = statistics.median(times[mode])
        rates[mode] = tokens[mode] / median
        print(f"  {mode:<22} {median:7.2f} s  {tokens[mode]:4d} tokens  {rates[mode]:8.1f} tokens/s")
    print(f"  batched / sequential throughput: {rates['batched'] / rates['sequential']:.2f}x (target >= 3x)")
    ratio = rates["batched"] / rates["batched, unconstrained"]
    print(f"  box-constrained / unconstrained batched throughput: {ratio:.2f}x (the default constrains)")


def bench_vision_cache(backend: NativeBackend, repeats: int, new_tokens: int) -> None:
    rng = np.random.default_rng(1)
    size = backend.input_size
    page = np.full((size, size, 3), 255, dtype=np.uint8)
    for _ in range(40):  # text-like dark bars on a white page
        x, y = rng.integers(0, size - 120), rng.integers(0, size - 8)
        page[y : y + 6, x : x + rng.integers(20, 120)] = rng.integers(0, 80)
    image = ImageInput.whole(page)
    config = GenerationConfig(max_new_tokens=new_tokens)
    cached = NativeBackend(backend.model, backend.tokenizer, backend.name, VisionCache())
    uncached = NativeBackend(backend.model, backend.tokenizer, backend.name, VisionCache(max_bytes=0))

    def ask_all(target: NativeBackend) -> list:
        return [target.generate([Prompt(q, (image,))], config)[0] for q in QUESTIONS]

    uncached.generate([Prompt(QUESTIONS[0], (image,))], config)  # warm-up
    times: dict[str, list[float]] = {"1 question": [], "5 without cache": [], "5 with cache": []}
    for _ in range(repeats):
        times["1 question"].append(
            timed(lambda: uncached.generate([Prompt(QUESTIONS[0], (image,))], config))[0]
        )
        times["5 without cache"].append(timed(lambda: ask_all(uncached))[0])
        cached.vision_cache.clear()
        times["5 with cache"].append(timed(lambda: ask_all(cached))[0])
    medians = {mode: statistics.median(values) for mode, values in times.items()}
    print(f"(2) vision cache: 5 questions on one {size}-px page, one call each; {describe(backend)}")
    for mode, seconds in medians.items():
        print(f"  {mode:<16} {seconds:7.2f} s")
    stats = cached.vision_cache.stats
    print(f"  cache: {stats.hits} hits, {stats.misses} misses, {stats.bytes / 2**20:.2f} MiB held")
    print(f"  5 without / 5 with cache: {medians['5 without cache'] / medians['5 with cache']:.2f}x")
    print(
        f"  5 with cache / 1 question: {medians['5 with cache'] / medians['1 question']:.2f}x (target <= 2x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the dev cores are shared)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32 on CPU")
    small_lm = {
        "hidden_size": 256,
        "num_layers": 4,
        "num_heads": 8,
        "num_kv_heads": 2,
        "intermediate_size": 704,
        "max_position": 1024,
    }
    with tempfile.TemporaryDirectory() as workdir:
        small = build_backend(
            VisionConfig(image_size=64, patch_size=8, hidden_size=128, num_layers=2, num_heads=4),
            small_lm,
            ProjectorConfig(kind=ProjectorKind.PIXEL_SHUFFLE_MLP),
            Path(workdir),
        )
        bench_batching(small, args.repeats, args.new_tokens)
        page = build_backend(
            VisionConfig(image_size=448, patch_size=16, hidden_size=384, num_layers=12, num_heads=6),
            small_lm,
            ProjectorConfig(kind=ProjectorKind.PIXEL_SHUFFLE_MLP),
            Path(workdir),
        )
        bench_vision_cache(page, args.repeats, 12)


if __name__ == "__main__":
    main()
