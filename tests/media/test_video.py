"""Video probing and sampling on the real corpus, plus clips generated here with PyAV (no ffmpeg CLI)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from vlm_engine.errors import ErrorCode, MediaError
from vlm_engine.grounding import Box
from vlm_engine.media import video
from vlm_engine.media.limits import DEFAULT_LIMITS, Deadline, MediaLimits

# Which decoder serves each corpus file when decord is asked for, and why PyAV where it is not decord.
EXPECTED_BACKEND = {
    "real/nasa_13013.mp4": "decord",
    "real/flipping_a_pancake.mkv": "decord",
    "codecs/testsrc2.mp4": "decord",
    "codecs/testsrc2_h265.mp4": "decord",
    "codecs/testsrc2_vp8.webm": "decord",
    "codecs/testsrc2_vp9.webm": "decord",
    "codecs/testsrc2_mpeg4.avi": "decord",
    "codecs/testsrc2_odd_width_mpeg2.mp4": "decord",
    "codecs/h264_10bits.mp4": "decord",
    "codecs/test_non_zero_start.mp4": "decord",
    "codecs/av1_video.mkv": "pyav",  # decord has no AV1 decoder
    "codecs/discard_first_keyframe.mp4": "pyav",  # decord counts the edit list's discarded packets
    "codecs/nasa_13013_rotated.mp4": "pyav",  # decord's autorotation is unreliable
}
SCENE_CUTS_S = (2.0, 3.2)  # cut times of the generated scene clip
SCENE_FPS = 25


@pytest.fixture(scope="module")
def video_dir(corpus_dir: Path) -> Path:
    return corpus_dir / "video"


def _write_clip(path: Path, colours: list[tuple[float, tuple[int, int, int]]], gop: int = 25) -> Path:
    """An H.264 clip of solid-colour scenes (seconds, RGB) with a white bar moving across each frame."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=SCENE_FPS, options={"g": str(gop), "bf": "2"})
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        index = 0
        for seconds, colour in colours:
            for _ in range(round(seconds * SCENE_FPS)):
                image = np.empty((120, 160, 3), np.uint8)
                image[:] = colour
                image[50:70, (index * 4) % 140 : (index * 4) % 140 + 20] = 255
                container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
                index += 1
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def scene_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    first, second = SCENE_CUTS_S
    scenes = [(first, (200, 30, 30)), (second - first, (30, 160, 40)), (5.0 - second, (20, 40, 190))]
    return _write_clip(tmp_path_factory.mktemp("video") / "scenes.mp4", scenes)


def _assert_sorted(frames: list[video.Frame]) -> None:
    assert np.all(np.diff([f.time_s for f in frames]) > 0), [f.time_s for f in frames]
    assert np.all(np.diff([f.index for f in frames]) > 0), [f.index for f in frames]


@pytest.mark.parametrize("name", sorted(EXPECTED_BACKEND))
def test_every_corpus_video_probes_and_samples(video_dir: Path, name: str) -> None:
    assert video.probe(video_dir / name).backend == "pyav"  # the default
    info = video.probe(video_dir / name, decoder="decord")
    assert info.backend == EXPECTED_BACKEND[name]
    assert info.frame_count > 0 and info.duration_s > 0 and info.fps > 0
    assert info.width > 0 and info.height > 0 and info.codec

    for decoder in ("pyav", "decord"):
        frames = video.sample_uniform(video_dir / name, 6, decoder=decoder)
        assert frames and len(frames) <= 6
        _assert_sorted(frames)
        for frame in frames:
            assert frame.image.dtype == np.uint8 and frame.image.shape == (info.height, info.width, 3)
            assert info.start_time_s <= frame.time_s < info.start_time_s + info.duration_s

        small = video.sample_fps(video_dir / name, fps=4, max_side=64, decoder=decoder)
        _assert_sorted(small)
        assert max(small[0].width, small[0].height) == min(64, max(info.width, info.height))


def test_decord_and_pyav_give_the_same_frames(scene_clip: Path, video_dir: Path) -> None:
    """Both decoders sit behind one interface: same indices and times, pixels equal up to colour rounding.

    decord reaches frames by seeking to a keyframe and counting decoded frames from it, so containers whose
    seeking differs (MP4, Matroska, AVI, a stream clock not starting at 0) are compared at full size; the
    second read on the same clip goes backwards. Downscaled frames are compared where both scalers agree."""
    deadline = Deadline(60, "test")
    scaled = [scene_clip, video_dir / "real/nasa_13013.mp4", video_dir / "codecs/testsrc2_vp9.webm"]
    full_size_only = [
        video_dir / name
        for name in (
            "real/flipping_a_pancake.mkv",
            "codecs/testsrc2_mpeg4.avi",
            "codecs/testsrc2_h265.mp4",
            "codecs/test_non_zero_start.mp4",
        )
    ]
    cases = [(path, None) for path in scaled + full_size_only] + [(path, 96) for path in scaled]
    for path, max_side in cases:
        picked: dict[str, list[video.Frame]] = {}
        for decoder in ("decord", "pyav"):
            with video._open(path, DEFAULT_LIMITS, max_side, deadline, decoder) as clip:
                n = clip.info.frame_count
                first = clip.frames([n - 1, 0, n // 3, n // 3 + 1, n // 2], deadline)
                picked[clip.decoder.name] = first + clip.frames([1, n // 4], deadline)
        decord_frames, pyav_frames = picked["decord"], picked["pyav"]
        assert [(f.index, f.time_s) for f in decord_frames] == [(f.index, f.time_s) for f in pyav_frames]
        for a, b in zip(decord_frames, pyav_frames, strict=True):
            assert a.image.shape == b.image.shape
            assert np.abs(a.image.astype(int) - b.image).mean() < 3, (path.name, a.index)


def test_non_zero_start_keeps_the_stream_clock(video_dir: Path) -> None:
    path = video_dir / "codecs/test_non_zero_start.mp4"
    info = video.probe(path)
    assert info.start_time_s == pytest.approx(8.333, abs=1e-3)
    frames = video.sample_fps(path, fps=30)
    assert frames[0].index == 0 and frames[0].time_s == pytest.approx(info.start_time_s)
    assert [f.index for f in frames] == list(range(info.frame_count))
    # windows use the same clock
    inside = video.sample_uniform(path, 2, window=(8.5, 8.6))
    assert all(8.4 < f.time_s < 8.6 for f in inside)


def test_edit_list_drops_discarded_frames(video_dir: Path) -> None:
    """The first 5 packets are cut by an edit list: 25 frames from 0.00 s, each with its own pixels."""
    path = video_dir / "codecs/discard_first_keyframe.mp4"
    info = video.probe(path)
    assert (info.frame_count, info.start_time_s, info.duration_s) == (25, 0.0, pytest.approx(1.0))
    with av.open(str(path)) as container:
        reference = [(f.time, f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    frames = video.sample_fps(path, fps=25)
    assert [f.index for f in frames] == list(range(25))
    for frame in frames:
        time_s, image = reference[frame.index]
        assert frame.time_s == pytest.approx(time_s)
        assert np.array_equal(frame.image, image)


def test_rotated_video_comes_out_upright(video_dir: Path) -> None:
    """The rotated file holds nasa_13013's 480x270 pixels with a display matrix of 90° counter-clockwise.

    Upright therefore means the original frame turned a quarter counter-clockwise (portrait, 270x480): the
    same frame as the original's, rotated, and not the original as stored.
    """
    rotated_path = video_dir / "codecs/nasa_13013_rotated.mp4"
    info = video.probe(rotated_path)
    assert (info.rotation, info.width, info.height) == (270, 270, 480)
    rotated = video.sample_uniform(rotated_path, 4)
    original = {
        f.index: f for f in video.sample_fps(video_dir / "real/nasa_13013.mp4", fps=30, window=(0, 0.6))
    }
    for frame in rotated:
        source = original[frame.index]
        assert frame.time_s == pytest.approx(source.time_s)
        assert frame.image.shape == (480, 270, 3) != source.image.shape
        upright = np.rot90(source.image, 1)  # a quarter turn counter-clockwise = 270° clockwise
        assert np.abs(upright.astype(int) - frame.image).mean() < 1.0
        assert np.abs(np.rot90(source.image, -1).astype(int) - frame.image).mean() > 5.0  # the wrong way


@pytest.mark.parametrize("decoder", ["pyav", "decord"])
def test_corrupted_video_fails_typed(video_dir: Path, decoder: video.Decoder) -> None:
    path = video_dir / "malformed/corrupted.mp4"
    info = video.probe(path, decoder=decoder)  # the container is fine; the damage is in the coded frames
    assert info.frame_count == 50 and info.backend == decoder
    with pytest.raises(MediaError) as err:
        video.sample_uniform(path, 40, decoder=decoder)
    assert err.value.code is ErrorCode.BAD_DOCUMENT
    with pytest.raises(MediaError) as err:
        video.sample_scenes(path, decoder=decoder)
    assert err.value.code is ErrorCode.BAD_DOCUMENT


@pytest.mark.parametrize("decoder", ["pyav", "decord"])
@pytest.mark.parametrize(
    "name", ["real/nasa_13013.mp4", "real/flipping_a_pancake.mkv", "codecs/testsrc2_mpeg4.avi"]
)
def test_truncated_video_fails_typed(
    video_dir: Path, tmp_path: Path, name: str, decoder: video.Decoder
) -> None:
    data = (video_dir / name).read_bytes()
    path = tmp_path / Path(name).name
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError) as err:
        video.sample_uniform(path, 4, decoder=decoder)
    assert err.value.code is ErrorCode.BAD_DOCUMENT


def test_non_video_inputs_fail_typed(tmp_path: Path, corpus_dir: Path) -> None:
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    receipt = next((corpus_dir / "receipts" / "img").glob("*.jpg"))
    for path in (noise, receipt):
        with pytest.raises(MediaError) as err:
            video.probe(path)
        assert err.value.code is ErrorCode.UNSUPPORTED_TYPE
    fake = tmp_path / "fake.mp4"  # MP4 magic bytes, garbage after
    fake.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(2000))
    with pytest.raises(MediaError) as err:
        video.probe(fake)
    assert err.value.code is ErrorCode.BAD_DOCUMENT
    with pytest.raises(MediaError) as err:
        video.probe(tmp_path / "missing.mp4")
    assert err.value.code is ErrorCode.BAD_DOCUMENT


def test_limits(video_dir: Path) -> None:
    path = video_dir / "real/nasa_13013.mp4"
    cases = [
        (
            lambda: video.probe(path, MediaLimits(max_video_seconds=5)),
            ErrorCode.TOO_LARGE,
            "max_video_seconds",
        ),
        (
            lambda: video.probe(path, MediaLimits(max_video_pixels=100_000)),
            ErrorCode.TOO_LARGE,
            "max_video_pixels",
        ),
        (lambda: video.sample_uniform(path, 2049), ErrorCode.TOO_LARGE, "max_frames=2048"),
        (lambda: video.sample_fps(path, 1, max_frames=5000), ErrorCode.TOO_LARGE, "max_frames"),
        (
            lambda: video.sample_scenes(path, max_frames=9, limits=MediaLimits(max_frames=8)),
            ErrorCode.TOO_LARGE,
            "",
        ),
        (lambda: video.sample_uniform(path, 4, window=(20.0, 30.0)), ErrorCode.OUT_OF_RANGE, "outside"),
        (lambda: video.sample_uniform(path, 4, window=(-5.0, 0.0)), ErrorCode.OUT_OF_RANGE, "outside"),
        (lambda: video.sample_fps(path, 1, window=(6.0, 2.0)), ErrorCode.OUT_OF_RANGE, "start < end"),
        (
            lambda: video.sample_uniform(path, 4, limits=MediaLimits(max_seconds=0)),
            ErrorCode.TIMEOUT,
            "time limit",
        ),
    ]
    for call, code, words in cases:
        with pytest.raises(MediaError) as err:
            call()
        assert err.value.code is code and words in err.value.detail


def test_uniform_sampling_takes_segment_midpoints(video_dir: Path) -> None:
    path = video_dir / "real/nasa_13013.mp4"
    info = video.probe(path)
    period = 1 / info.fps
    for window, n in ((None, 5), ((2.0, 4.0), 4), ((12.5, 20.0), 3)):
        start, end = (
            (0.0, info.duration_s) if window is None else (window[0], min(window[1], info.duration_s))
        )
        frames = video.sample_uniform(path, n, window=window)
        assert len(frames) == n
        for k, frame in enumerate(frames):
            midpoint = start + (k + 0.5) * (end - start) / n
            assert frame.time_s <= midpoint < frame.time_s + period + 1e-9
    # asking for more frames than the span holds gives each frame once
    dense = video.sample_uniform(path, 50, window=(1.0, 1.5))
    assert len(dense) == 15 and [f.index for f in dense] == list(range(dense[0].index, dense[0].index + 15))


def test_fps_sampling_counts(video_dir: Path) -> None:
    path = video_dir / "real/nasa_13013.mp4"
    assert len(video.sample_fps(path, fps=2)) == 26  # round(13.013 s * 2)
    assert len(video.sample_fps(path, fps=1, window=(2.0, 7.0))) == 5
    assert len(video.sample_fps(path, fps=0.01)) == 1  # at least min_frames
    assert len(video.sample_fps(path, fps=0.01, min_frames=7)) == 7
    capped = video.sample_fps(path, fps=10, max_frames=3)
    assert [round(f.time_s, 1) for f in capped] == [2.1, 6.5, 10.8]
    steps = np.diff([f.time_s for f in video.sample_fps(path, fps=2)])
    assert np.all(np.abs(steps - 0.5) < 1.5 / 29.97)


def test_scene_detection_finds_the_cuts(scene_clip: Path) -> None:
    scan_fps = 4.0
    frames = video.sample_scenes(scene_clip, scan_fps=scan_fps)
    assert frames[0].index == 0 and frames[0].time_s == 0.0
    assert len(frames) == 1 + len(SCENE_CUTS_S)
    for frame, cut in zip(frames[1:], SCENE_CUTS_S, strict=True):
        assert cut <= frame.time_s <= cut + 1 / scan_fps
    # the colours on either side of the cut differ; the frame is the new scene's
    assert frames[1].image[5, 5, 1] > 120 and frames[2].image[5, 5, 2] > 150
    # fewer frames allowed: the first frame and the strongest cut
    assert len(video.sample_scenes(scene_clip, max_frames=2)) == 2
    # a window sees only the cuts inside it, and starts with its own first frame
    inside = video.sample_scenes(scene_clip, window=(1.0, 2.9))
    assert len(inside) == 2 and inside[0].time_s == 1.0 and inside[1].time_s == pytest.approx(2.0, abs=0.25)


def test_downscaled_frames_map_back_to_the_decoded_frame(video_dir: Path) -> None:
    path = video_dir / "codecs/nasa_13013_rotated.mp4"
    frame = video.sample_uniform(path, 1, max_side=100)[0]
    assert (frame.width, frame.height) == (56, 100)
    full = frame.view.box_to_source(Box(0, 0, frame.width, frame.height))
    assert full.as_list() == [0, 0, 270, 480]
    assert video.sample_uniform(path, 1, max_side=4000)[0].image.shape == (480, 270, 3)  # never upscaled
