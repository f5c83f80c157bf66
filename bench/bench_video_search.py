"""Temporal grounding in generated videos: coarse-to-fine frame search against uniform sampling, at the
same frame budget. `python bench/bench_video_search.py [--model models/sightline-tiny] [--videos 30]
[--budget 16] [--seconds 30] [--seed 0]`.

The set (generated, seeded): `--videos` H.264 clips written with PyAV, 128x128 at 8 fps, `--seconds`
long, on a held-out background texture. One target shape (say a red circle) is on screen for a window
of 3-10 s at a random place in the clip, moving in a straight line; one or two distractor shapes of other
colours and kinds come and go on their own windows. The question is "When is the red circle visible?"
and the truth is the target's window, [first frame, last frame + 1 frame).

Ways, both `vlm_engine.agent.video.search_video` with the same backend and frame budget:
(a) uniform: all `--budget` frames at the midpoints of equal segments (`coarse_share=1`);
(b) coarse-to-fine: half the budget uniform, the rest by bisection where the per-frame verdict flips.
Each frame's verdict is the backend's yes/no to "Is there a red circle in the image?"; the answer is the
run of yes frames with edges halfway to their neighbours. Columns: mean temporal IoU, share with IoU >=
0.5, frames decoded (returned by the sampler; both ways stay within the budget), seconds a video; the
ratio (b)/(a) of IoU.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vlm_engine.agent.trace import Trace
from vlm_engine.agent.video import VideoSearchOptions, search_video
from vlm_engine.backends.native import NativeBackend
from vlm_engine.eval.synthetic import interval_iou
from vlm_engine.grounding import Affine, Box
from vlm_engine.train.data.scenes import SUPERSAMPLE, draw_shape
from vlm_engine.train.data.things import COLOURS, SHAPES, Style

SIZE = 128
FPS = 8


def write_video(path: Path, seconds: int, rng: random.Random) -> tuple[str, tuple[float, float]]:
    """Write one clip; return the target's name and its visible window in seconds."""
    style = Style(held_out=True)
    frames = seconds * FPS
    background = Image.fromarray(style.background(rng, SIZE)).resize(
        (SIZE * SUPERSAMPLE, SIZE * SUPERSAMPLE), Image.Resampling.NEAREST
    )
    names = rng.sample([(c, s) for c in COLOURS for s in SHAPES], rng.randint(2, 3))
    tracks = []
    for i, (colour, shape) in enumerate(names):
        length = rng.randint(3 * FPS, 10 * FPS) if i == 0 else rng.randint(2 * FPS, frames // 2)
        first = rng.randint(0, frames - length)
        side = rng.randint(SIZE // 6, SIZE // 4)
        start = (rng.uniform(0, SIZE - side), rng.uniform(0, SIZE - side))
        end = (rng.uniform(0, SIZE - side), rng.uniform(0, SIZE - side))
        tracks.append((shape, style.colour(rng, colour), first, first + length - 1, side, start, end))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = SIZE, SIZE, "yuv420p"
        stream.options = {"g": str(2 * FPS), "crf": "18"}
        for i in range(frames):
            canvas = background.copy()
            draw = ImageDraw.Draw(canvas)
            for shape, rgb, first, last, side, start, end in tracks:
                if first <= i <= last:
                    t = (i - first) / max(1, last - first)
                    x, y = start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1])
                    draw_shape(
                        draw, shape, Affine.scale(SUPERSAMPLE).apply_box(Box(x, y, x + side, y + side)), rgb
                    )
            frame = av.VideoFrame.from_ndarray(np.asarray(canvas.reduce(SUPERSAMPLE)), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    colour, shape = names[0]
    _, _, first, last, *_ = tracks[0]
    return f"{colour} {shape}", (first / FPS, (last + 1) / FPS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/sightline-tiny")
    parser.add_argument("--videos", type=int, default=30)
    parser.add_argument("--budget", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    backend = NativeBackend.from_pretrained(args.model)
    rng = random.Random(args.seed)
    ways = {"uniform": 1.0, "coarse-to-fine": 0.5}
    stats = {way: {"iou": [], "frames": [], "seconds": []} for way in ways}
    with tempfile.TemporaryDirectory() as tmp:
        for v in range(args.videos):
            path = Path(tmp) / f"clip{v}.mp4"
            target, truth = write_video(path, args.seconds, rng)
            for way, share in ways.items():
                started = time.perf_counter()
                found = search_video(
                    backend,
                    str(path),
                    f"When is the {target} visible?",
                    Trace(),
                    VideoSearchOptions(frame_budget=args.budget, coarse_share=share),
                )
                stats[way]["seconds"].append(time.perf_counter() - started)
                stats[way]["iou"].append(interval_iou(found.window, truth) if found.window else 0.0)
                stats[way]["frames"].append(len(found.seen))
    print(
        f"{args.videos} clips of {args.seconds} s at {FPS} fps, target on screen 3-10 s, budget {args.budget} frames, "
        f"model {args.model}"
    )
    print(f"{'way':<16}{'mean tIoU':>10}{'tIoU>=0.5':>11}{'frames decoded':>16}{'s/video':>9}")
    for way, s in stats.items():
        print(
            f"{way:<16}{np.mean(s['iou']):>10.3f}{np.mean(np.asarray(s['iou']) >= 0.5):>11.3f}"
            f"{np.mean(s['frames']):>16.1f}{np.mean(s['seconds']):>9.2f}"
        )
    a, b = np.mean(stats["uniform"]["iou"]), np.mean(stats["coarse-to-fine"]["iou"])
    print(f"coarse-to-fine / uniform: tIoU {b / a:.2f}x" if a else "uniform found nothing")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
