"""Shared by the agent benches: held-out pictures written as PNG files (the agent runs on files, as a
user's request does), and the ways printed side by side with each one's ratios to the first."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def write_pictures(samples: list, folder: str) -> list[str]:
    """Each sample's first picture as `folder/i.png`; the paths, in order."""
    paths = []
    for i, sample in enumerate(samples):
        paths.append(str(Path(folder) / f"{i}.png"))
        Image.fromarray(sample.pictures[0].pixels).save(paths[-1])
    return paths


def print_ways(title: str, rows: dict[str, dict[str, float]], columns: tuple[str, ...], score: str) -> None:
    """One line a way, then each later way's ratios to the first in `score`, time and tokens."""
    width = max(map(len, rows))
    print(title)
    print("way".ljust(width) + "".join(c.rjust(12) for c in columns))
    for name, figures in rows.items():
        print(name.ljust(width) + "".join(f"{figures[c]:12.3f}" for c in columns))
    (first, base), *others = rows.items()
    for name, figures in others:
        print(
            f"{name[:3]} / {first[:3]}: {score} {figures[score] / base[score]:.2f}x, "
            f"time {figures['s/question'] / base['s/question']:.2f}x, "
            f"tokens {figures['tokens'] / base['tokens']:.2f}x"
        )
