"""32 uniform frames from a 5-minute clip, side by side: `python bench/bench_video_sampling.py`.

(a) ours on decord: `video.sample_uniform(path, 32, decoder="decord")`: decord skips forward to each frame,
    seeking to the keyframe before it when one lies past its position, and converts only the frames kept.
(b) naive: PyAV decodes every frame of the clip in order (frame threads on) and converts the same 32 to RGB.
(c) ours by default, `video.sample_uniform(path, 32)`: PyAV seeks and decodes forward the same way as (a).
The clip is generated once with PyAV into bench/out/ (640x360, 25 fps, H.264 yuv420p, x264 veryfast, two
B-frames, a keyframe every 50 frames = 2 s, scene-cut keyframes off) and again with a keyframe every 250
frames (10 s), where each seek decodes five times as much. All ways run interleaved, repeated; medians, and
each against (b). Target: at least 5x faster than (b) on the 2-s GOP clip, asked of decord; (c) is the
default because it measured faster than (a).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vlm_engine.media import video

OUT = Path(__file__).resolve().parent / "out"
WIDTH, HEIGHT, FPS, SECONDS = 640, 360, 25, 300
N_FRAMES = 32


def make_clip(gop: int) -> Path:
    """The benchmark clip for keyframe interval `gop`, generated on first use (a panning texture + a box)."""
    path = OUT / f"clip_{WIDTH}x{HEIGHT}_{FPS}fps_{SECONDS}s_gop{gop}.mp4"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"generating {path.name} (once; about a minute) ...", flush=True)
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (HEIGHT // 8, WIDTH // 4, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    partial = path.with_suffix(".partial.mp4")
    options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": "2", "preset": "veryfast"}
    with av.open(str(partial), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options=options)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for i in range(FPS * SECONDS):
            x = (i * 3) % (texture.shape[1] - WIDTH)
            image = np.ascontiguousarray(texture[:, x : x + WIDTH])
            image[(i * 2) % 300 : (i * 2) % 300 + 60, 100:200] = ((i * 7) % 256, 80, 200)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    partial.rename(path)
    return path


def ours_decord(path: Path) -> list[tuple[int, float]]:
    return [(f.index, f.time_s) for f in video.sample_uniform(path, N_FRAMES, decoder="decord")]


def ours(path: Path) -> list[tuple[int, float]]:
    return [(f.index, f.time_s) for f in video.sample_uniform(path, N_FRAMES)]


def naive(path: Path, wanted: set[int]) -> tuple[list[tuple[int, float]], int]:
    picked, decoded = [], 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for index, frame in enumerate(container.decode(stream)):
            decoded += 1
            if index in wanted:
                frame.to_ndarray(format="rgb24")
                picked.append((index, frame.time))
    return picked, decoded


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def run(gop: int, repeats: int) -> None:
    path = make_clip(gop)
    info = video.probe(path, decoder="decord")
    expected = ours(path)
    wanted = {index for index, _ in expected}
    seek_decoded = sum(index % gop + 1 for index in wanted)  # keyframe -> frame, for each frame
    times: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    naive_decoded = 0
    for _ in range(repeats):
        seconds, got = timed(ours_decord, path)
        times["a"].append(seconds)
        assert got == expected
        seconds, (got, naive_decoded) = timed(naive, path, wanted)
        times["b"].append(seconds)
        assert [i for i, _ in got] == [i for i, _ in expected]
        assert np.allclose([t for _, t in got], [t for _, t in expected])
        seconds, got = timed(ours, path)
        times["c"].append(seconds)
        assert got == expected
    median = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"\n{path.name}: {info.width}x{info.height}, {info.fps:g} fps, {info.duration_s:g} s, "
        f"{info.frame_count} frames, H.264, keyframe every {gop} frames ({gop / FPS:g} s); "
        f"{N_FRAMES} frames, median of {repeats}"
    )
    print(f"{'way':44} {'median s':>9} {'min s':>7} {'frames decoded':>15} {'vs (b)':>9}")
    rows = [
        ("a", f"(a) sample_uniform, decord backend ({info.backend})", f"~{seek_decoded}"),
        ("b", "(b) PyAV decodes every frame, picks 32", str(naive_decoded)),
        ("c", "(c) sample_uniform, default: PyAV seeks", f"~{seek_decoded}"),
    ]
    for key, label, decoded in rows:
        ratio = median["b"] / median[key]
        print(f"{label:44} {median[key]:9.3f} {min(times[key]):7.3f} {decoded:>15} {ratio:8.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for gop in (50, 250):
        run(gop, args.repeats)


if __name__ == "__main__":
    main()
