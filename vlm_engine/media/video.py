"""Video probing and frame sampling: uniform, fps-based, windowed and scene-change, with real timestamps.

Design choices:
- One frame table per clip, built by PyAV from the demuxed packets (no decoding): the presentation time of
  every frame, its keyframes, and the end of the last frame. Both decoders are driven by it, so `Frame.index`
  and `Frame.time_s` mean the same whatever decoded the pixels. Times are the stream's own clock (pts times
  time base), so a clip whose first pts is 8.33 s starts at 8.33 s; windows use the same clock.
- PyAV decodes by default: on bench/bench_video_sampling.py's clip its keyframe seeks measured 1.5-2x
  faster than decord's (decord hands every packet to a decoder thread and back, and stops that thread on every
  seek; on a loaded 2-core machine those switches dominate). decord is there on request (`decoder=`), and
  even then PyAV takes over where decord cannot decode (no AV1), where it is wrong (edit lists: it counts
  discarded packets as frames and mislabels every frame after them; rotated streams: its own
  autorotation returns mis-sized buffers for some sizes), and wherever decord's frame count or timestamps
  disagree with the table. Both go forward through ascending frames: they decode on from where they
  stand, seeking to the keyframe at or before the next frame only when one lies past their position
  (decord with `skip_frames`, which leaves the frames it skips unconverted).
- The file type comes from magic bytes (`sniff`) and PyAV is held to the matching demuxer, so playlists and
  other exotic demuxers never see untrusted input.
- Frames come out upright: the display matrix (`rotation`, degrees clockwise) is applied with `np.rot90`.
  Frame pixels are decoded-frame pixels of that upright frame; `Frame.view` maps a downscaled frame back.
- Every sampler returns frames sorted by strictly increasing time (duplicates dropped) and checks
  `MediaLimits.max_seconds` between frames. Input-caused failures are `MediaError`s; bugs stay exceptions.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from typing import Literal, Protocol

import av
import decord
import numpy as np

from sightline_common.sniff import AVI, MKV, MOV, MP4, WEBM, sniff_file
from vlm_engine.errors import ErrorCode, MediaError
from vlm_engine.grounding import View, fit_within
from vlm_engine.media.limits import DEFAULT_LIMITS, Deadline, MediaLimits

log = logging.getLogger(__name__)

Window = tuple[float, float]  # (start_s, end_s) on the stream's clock, end exclusive
Decoder = Literal["pyav", "decord"]

_DEMUXERS = {MP4: "mov", MOV: "mov", MKV: "matroska", WEBM: "matroska", AVI: "avi"}
_DECODER_ERRORS = (av.error.FFmpegError, decord.DECORDError)
_DECORD_PREFIX = re.compile(r"\[[\d:]+\] \S+:\d+: ")
_SCAN_SIDE = 64  # longest side of the frames the scene pass compares
_SCAN_MAX_SAMPLES = 10_000  # a longer scene pass widens its step instead
_HIST_LEVELS = 8  # colour histogram bins per channel (8 x 8 x 8)


@dataclass(frozen=True, slots=True)
class VideoInfo:
    duration_s: float  # from the first frame's start to the last frame's end
    fps: float  # average frame rate
    frame_count: int
    width: int  # as displayed (after rotation)
    height: int
    rotation: int  # degrees clockwise applied to decoded frames to show them upright: 0, 90, 180, 270
    codec: str
    start_time_s: float  # presentation time of the first frame
    backend: str  # "decord" or "pyav"


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    index: int  # frame number in the stream, 0-based, in presentation order
    time_s: float  # presentation timestamp (stream clock, seconds)
    image: np.ndarray  # H x W x 3 uint8 RGB, upright
    view: View  # image pixels -> pixels of the upright decoded frame (identity unless downscaled)

    @property
    def width(self) -> int:
        return self.image.shape[1]

    @property
    def height(self) -> int:
        return self.image.shape[0]


@dataclass(frozen=True, slots=True, eq=False)
class _FrameTable:
    """Presentation times of every frame of the stream, from its packets."""

    pts: np.ndarray  # int64, stream time-base units, strictly increasing
    times: np.ndarray  # float64 seconds
    keyframes: np.ndarray  # int64 frame indices of keyframes, ascending, never empty
    end_s: float  # presentation end of the last frame
    discarded: int  # packets an edit list drops before presentation

    def __len__(self) -> int:
        return len(self.pts)

    def index_at(self, times: np.ndarray) -> np.ndarray:
        """The index of the frame on screen at each time (clamped to the clip)."""
        return np.clip(np.searchsorted(self.times, times, side="right") - 1, 0, len(self) - 1)

    def keyframe_before(self, index: int) -> int:
        """Position in `keyframes` of the last keyframe at or before frame `index` (0 if none)."""
        return max(0, int(np.searchsorted(self.keyframes, index, side="right")) - 1)

    def lookup(self, pts: int | None) -> int | None:
        """The index of the frame with presentation timestamp `pts`, or None if no frame has it."""
        if pts is None:
            return None
        i = int(np.searchsorted(self.pts, pts))
        return i if i < len(self) and self.pts[i] == pts else None


class _Decoder(Protocol):
    name: str

    def read(self, indices: Sequence[int], deadline: Deadline) -> Iterator[tuple[int, np.ndarray]]:
        """(index, upright RGB image) for each of the ascending `indices`; a frame may stand for several."""
        ...

    def close(self) -> None: ...


class _DecordDecoder:
    """decord driven forward with `skip_frames`: to reach a frame it seeks once to the last keyframe before
    it (only when one lies past the current position) and decodes on without converting the frames it
    skips. `get_batch` and `seek_accurate` seek twice (to the start, then the keyframe) and restart the
    decoder threads each time: 1.25-1.7x slower on bench/bench_video_sampling.py's clip."""

    name = "decord"

    def __init__(self, reader: decord.VideoReader):
        self._reader = reader
        self._next = 0  # the index of the frame `next()` returns; a new reader stands at frame 0

    def read(self, indices: Sequence[int], deadline: Deadline) -> Iterator[tuple[int, np.ndarray]]:
        for index in indices:
            deadline.check()
            if index < self._next:  # behind us: decord's own exact seek
                self._reader.seek_accurate(index)
            elif index > self._next:
                self._reader.skip_frames(index - self._next)
            try:
                frame = self._reader.next()
            except StopIteration:  # decord's frames ran out before the table's, as PyAV's may
                return
            self._next = index + 1
            # decord's output bridge is process-global: another module may have switched it to torch
            yield index, frame.asnumpy() if hasattr(frame, "asnumpy") else np.asarray(frame)

    def close(self) -> None:
        del self._reader


class _PyAVDecoder:
    name = "pyav"

    def __init__(
        self,
        container: av.container.InputContainer,
        stream: av.VideoStream,
        table: _FrameTable,
        rotation: int,
        size: tuple[int, int] | None,
    ):
        self._container = container
        self._stream = stream
        self._table = table
        self._turns = (-rotation // 90) % 4  # np.rot90 turns counter-clockwise
        # decoded (coded, unrotated) size to scale to, or None for the full size
        self._size = None if size is None else (size if self._turns % 2 == 0 else size[::-1])
        self._frames: Iterator[tuple[int, av.VideoFrame]] = iter(())
        self._current: tuple[int, av.VideoFrame] | None = None

    def read(self, indices: Sequence[int], deadline: Deadline) -> Iterator[tuple[int, np.ndarray]]:
        self._current = None  # decoding restarts from a keyframe on every call
        for target in indices:
            deadline.check()
            found = self._frame_at_or_after(target, deadline)
            if found is None:
                return
            index, frame = found
            yield index, self._upright(frame)

    def close(self) -> None:
        self._container.close()

    def _frame_at_or_after(self, target: int, deadline: Deadline) -> tuple[int, av.VideoFrame] | None:
        current = self._current
        if current is not None and current[0] >= target:  # targets ascend: no frame lies in between
            return current
        key = self._table.keyframe_before(target)
        if current is None or self._table.keyframes[key] > current[0]:
            self._seek(key, target)
        for item in self._frames:
            deadline.check()
            self._current = item
            if item[0] >= target:
                return item
        return None

    def _seek(self, key: int, target: int) -> None:
        """Seek to keyframe number `key`, stepping back a keyframe while decoding starts past `target`."""
        while True:
            pts = int(self._table.pts[self._table.keyframes[key]])
            self._container.seek(pts, stream=self._stream, backward=True)
            frames = self._indexed_frames()
            first = next(frames, None)
            if first is None or first[0] <= target or key == 0:
                break
            key -= 1
        self._frames = frames if first is None else _prepend(first, frames)
        self._current = None

    def _indexed_frames(self) -> Iterator[tuple[int, av.VideoFrame]]:
        for frame in self._container.decode(self._stream):
            index = self._table.lookup(frame.pts)
            if index is not None:
                yield index, frame

    def _upright(self, frame: av.VideoFrame) -> np.ndarray:
        width, height = self._size or (None, None)
        image = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="BICUBIC")
        return np.ascontiguousarray(np.rot90(image, self._turns)) if self._turns else image


def _prepend(first: tuple[int, av.VideoFrame], rest: Iterator) -> Iterator[tuple[int, av.VideoFrame]]:
    yield first
    yield from rest


@dataclass(frozen=True, slots=True, eq=False)
class _Video:
    info: VideoInfo
    table: _FrameTable
    decoder: _Decoder
    size: tuple[int, int]  # output frame size (width, height), upright

    def frames(self, indices: Sequence[int], deadline: Deadline) -> list[Frame]:
        view = View.of_source(self.info.width, self.info.height, *self.size)
        out: list[Frame] = []
        for index, image in self.decoder.read(sorted(set(indices)), deadline):
            if out and out[-1].index >= index:
                continue
            out.append(Frame(index, float(self.table.times[index]), image, view))
        return out


# --------------------------------------------------------------------------------------------------------
# Public API


def probe(
    path: str | PathLike[str], limits: MediaLimits = DEFAULT_LIMITS, *, decoder: Decoder = "pyav"
) -> VideoInfo:
    """Metadata of the video at `path`, with its limits enforced and its first frame decoded.

    `info.backend` says which decoder would serve the clip when `decoder` is asked for.
    """
    deadline = Deadline(limits.max_seconds, f"probing {Path(path).name}")
    with _open(path, limits, None, deadline, decoder) as video:
        return video.info


def sample_uniform(
    path: str | PathLike[str],
    n: int,
    window: Window | None = None,
    *,
    max_side: int | None = None,
    limits: MediaLimits = DEFAULT_LIMITS,
    decoder: Decoder = "pyav",
) -> list[Frame]:
    """The frames on screen at the midpoints of `n` equal segments of the clip (or of `window`).

    Fewer than `n` come back when the span holds fewer frames. `max_side` downscales frames to fit a square
    of that side (never upscales). `decoder` picks PyAV (the default) or decord; see the module docstring.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    _check_frame_request(n, limits)
    deadline = Deadline(limits.max_seconds, f"sampling {Path(path).name}")
    with _open(path, limits, max_side, deadline, decoder) as video:
        start, end = _span(video.table, window)
        return video.frames(_uniform_indices(video.table, start, end, n), deadline)


def sample_times(
    path: str | PathLike[str],
    times: Sequence[float],
    *,
    max_side: int | None = None,
    limits: MediaLimits = DEFAULT_LIMITS,
    decoder: Decoder = "pyav",
) -> list[Frame]:
    """The frames on screen at each of `times` (seconds, stream clock; clamped to the clip), for a search
    that picks its next frames from what it saw. Times landing on one frame return it once."""
    _check_frame_request(len(times), limits)
    deadline = Deadline(limits.max_seconds, f"sampling {Path(path).name}")
    with _open(path, limits, max_side, deadline, decoder) as video:
        indices = video.table.index_at(np.asarray(times, dtype=np.float64))
        return video.frames(np.unique(indices).tolist(), deadline)


def sample_fps(
    path: str | PathLike[str],
    fps: float,
    min_frames: int = 1,
    max_frames: int | None = None,
    window: Window | None = None,
    *,
    max_side: int | None = None,
    limits: MediaLimits = DEFAULT_LIMITS,
    decoder: Decoder = "pyav",
) -> list[Frame]:
    """About `fps` frames per second of the clip (or of `window`), uniformly, between min and max frames.

    The count is round(span * fps) clamped to [min_frames, max_frames] (max_frames defaults to
    `limits.max_frames`); frames sit at the midpoints of that many equal segments.
    """
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps}")
    max_frames = limits.max_frames if max_frames is None else max_frames
    if not 1 <= min_frames <= max_frames:
        raise ValueError(f"need 1 <= min_frames <= max_frames, got {min_frames} and {max_frames}")
    _check_frame_request(max_frames, limits)
    deadline = Deadline(limits.max_seconds, f"sampling {Path(path).name}")
    with _open(path, limits, max_side, deadline, decoder) as video:
        start, end = _span(video.table, window)
        n = min(max(round((end - start) * fps), min_frames), max_frames)
        return video.frames(_uniform_indices(video.table, start, end, n), deadline)


def sample_scenes(
    path: str | PathLike[str],
    threshold: float = 0.35,
    max_frames: int | None = None,
    window: Window | None = None,
    *,
    scan_fps: float = 4.0,
    max_side: int | None = None,
    limits: MediaLimits = DEFAULT_LIMITS,
    decoder: Decoder = "pyav",
) -> list[Frame]:
    """The first frame of the clip (or of `window`) and the first frame after each scene change.

    A cheap pass decodes frames every 1/scan_fps seconds at a 64-pixel side and compares the colour
    histograms of consecutive ones (total variation distance, 0 = same colours, 1 = disjoint); a step above
    `threshold` is a change, found within one step after it happens. Consecutive such steps (a dissolve)
    count as one change, whose frame is the first after the last of them. With more changes than
    `max_frames - 1`, the strongest are kept.
    """
    if not (math.isfinite(scan_fps) and scan_fps > 0):
        raise ValueError(f"scan_fps must be a positive number, got {scan_fps}")
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    max_frames = limits.max_frames if max_frames is None else max_frames
    if max_frames < 1:
        raise ValueError(f"max_frames must be at least 1, got {max_frames}")
    _check_frame_request(max_frames, limits)
    deadline = Deadline(limits.max_seconds, f"finding scenes in {Path(path).name}")
    with _open(path, limits, _SCAN_SIDE, deadline, decoder) as scan:
        start, end = _span(scan.table, window)
        steps = min(max(1, math.ceil((end - start) * scan_fps - 1e-9)), _SCAN_MAX_SAMPLES)
        times = start + np.arange(steps) * ((end - start) / steps)
        indices = np.unique(scan.table.index_at(times)).tolist()
        first: int | None = None
        previous: np.ndarray | None = None
        in_cut = False
        cuts: list[tuple[float, int]] = []  # (largest step, index of the first frame after the change)
        for index, image in scan.decoder.read(indices, deadline):
            hist = _colour_histogram(image)
            if previous is None:
                first = index
            else:
                distance = 0.5 * float(np.abs(hist - previous).sum())
                if distance > threshold and in_cut:  # a dissolve spans steps: one change, ending here
                    cuts[-1] = (max(cuts[-1][0], distance), index)
                elif distance > threshold:
                    cuts.append((distance, index))
                in_cut = distance > threshold
            previous = hist
    if first is None:
        return []
    strongest = sorted(cuts, reverse=True)[: max_frames - 1]
    log.debug("%s: %d cuts over %.3g, kept %d", Path(path).name, len(cuts), threshold, len(strongest))
    with _open(path, limits, max_side, deadline, decoder) as video:
        return video.frames([first, *(index for _, index in strongest)], deadline)


# --------------------------------------------------------------------------------------------------------
# Opening


@contextmanager
def _open(
    path: str | PathLike[str],
    limits: MediaLimits,
    max_side: int | None,
    deadline: Deadline,
    decoder: Decoder = "pyav",
) -> Iterator[_Video]:
    """Open, check limits, index and choose a decoder; decoder failures inside become MediaErrors."""
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")
    if decoder not in ("pyav", "decord"):
        raise ValueError(f"decoder must be 'pyav' or 'decord', got {decoder!r}")
    path = Path(path).resolve()  # absolute: never read as an ffmpeg protocol ("concat:", "http:")
    demuxer = _check_file(path, limits)
    chosen: _Decoder | None = None
    try:
        with _decoder_errors(path):
            container = av.open(str(path), format=demuxer, metadata_errors="ignore")
            try:
                info, table, size, stream = _inspect(path, container, limits, max_side, deadline)
                reader = _decord_reader(path, info, table, size, stream) if decoder == "decord" else None
            except BaseException:
                container.close()
                raise
            if reader is None:
                resize = None if size == (info.width, info.height) else size
                chosen = _PyAVDecoder(container, stream, table, info.rotation, resize)
            else:
                container.close()
                chosen = _DecordDecoder(reader)
            info = replace(info, backend=chosen.name)
            yield _Video(info, table, chosen, size)
    finally:
        if chosen is not None:
            chosen.close()


def _check_file(path: Path, limits: MediaLimits) -> str:
    """The PyAV demuxer for the file's magic bytes, after the size limit."""
    try:
        size = path.stat().st_size
        media_type = sniff_file(path)
    except OSError as exc:
        raise MediaError(ErrorCode.BAD_DOCUMENT, f"cannot read {path.name}: {exc.strerror}") from None
    if size > limits.max_bytes:
        raise MediaError(ErrorCode.TOO_LARGE, f"{size} bytes is over the limit of {limits.max_bytes}")
    if media_type not in _DEMUXERS:
        found = media_type.mime if media_type else "unknown bytes"
        raise MediaError(ErrorCode.UNSUPPORTED_TYPE, f"not a supported video ({found})")
    return _DEMUXERS[media_type]


@contextmanager
def _decoder_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except _DECODER_ERRORS as exc:
        raise MediaError(ErrorCode.BAD_DOCUMENT, f"cannot decode {path.name}: {_message(exc)}") from None


def _message(exc: Exception) -> str:
    """An exception's message without decord's "[time] source.cc:line:" prefixes."""
    return _DECORD_PREFIX.sub("", str(exc)).strip()[-200:] or type(exc).__name__


def _inspect(
    path: Path,
    container: av.container.InputContainer,
    limits: MediaLimits,
    max_side: int | None,
    deadline: Deadline,
) -> tuple[VideoInfo, _FrameTable, tuple[int, int], av.VideoStream]:
    """Metadata, limits, the frame table and the first frame's rotation, all through PyAV."""
    stream = container.streams.best("video")
    if stream is None:
        raise MediaError(ErrorCode.BAD_DOCUMENT, f"{path.name} has no video stream")
    if stream.codec_context is None:
        raise MediaError(ErrorCode.UNSUPPORTED_TYPE, f"no decoder for the video codec of {path.name}")
    _check_pixels(stream.codec_context.width, stream.codec_context.height, limits)
    if stream.duration and stream.time_base:
        declared_start = float((stream.start_time or 0) * stream.time_base)
        declared_end = declared_start + float(stream.duration * stream.time_base)
    else:  # the container's span (all streams), in microseconds
        declared_start = (container.start_time or 0) / av.time_base
        declared_end = declared_start + (container.duration or 0) / av.time_base
    _check_duration(declared_end - declared_start, limits)

    table = _read_table(container, stream, deadline)
    duration = table.end_s - float(table.times[0])
    _check_duration(duration, limits)
    if declared_end - table.end_s > max(1.0, 0.05 * (declared_end - declared_start)):
        raise MediaError(
            ErrorCode.BAD_DOCUMENT,
            f"{path.name} is truncated: its frames end at {table.end_s:.3f} s, "
            f"the file declares {declared_end:.3f} s",
        )
    container.seek(int(table.pts[0]), stream=stream, backward=True)
    first = next(container.decode(stream), None)
    if first is None:
        raise MediaError(ErrorCode.BAD_DOCUMENT, f"no frame of {path.name} could be decoded")
    _check_pixels(first.width, first.height, limits)
    rotation = round(-first.rotation / 90) * 90 % 360
    width, height = (first.height, first.width) if rotation in (90, 270) else (first.width, first.height)
    info = VideoInfo(
        duration_s=duration,
        fps=float(stream.average_rate or stream.guessed_rate or 0) or len(table) / duration,
        frame_count=len(table),
        width=width,
        height=height,
        rotation=rotation,
        codec=stream.codec_context.codec.canonical_name,
        start_time_s=float(table.times[0]),
        backend="",
    )
    size = (width, height)
    if max_side is not None and max(width, height) > max_side:
        size = fit_within(width, height, max_side, max_side)
    return info, table, size, stream


def _read_table(
    container: av.container.InputContainer, stream: av.VideoStream, deadline: Deadline
) -> _FrameTable:
    """Demux (without decoding) the stream's packets into the frame table; damaged packets are an error."""
    pts: list[int] = []
    keys: list[bool] = []
    durations: list[int] = []
    discarded = 0
    for count, packet in enumerate(container.demux(stream)):
        if count % 256 == 0:
            deadline.check()
        stamp = packet.pts if packet.pts is not None else packet.dts
        if packet.size == 0 or stamp is None:
            continue
        if packet.is_corrupt:
            raise MediaError(
                ErrorCode.BAD_DOCUMENT, f"video packet {count} is damaged (truncated or corrupt)"
            )
        if packet.is_discard:
            discarded += 1
            continue
        pts.append(stamp)
        keys.append(packet.is_keyframe)
        durations.append(packet.duration or 0)
    if not pts:
        raise MediaError(ErrorCode.BAD_DOCUMENT, "the video stream holds no frames")
    if stream.frames > len(pts) + discarded:
        raise MediaError(
            ErrorCode.BAD_DOCUMENT,
            f"truncated: {len(pts) + discarded} of {stream.frames} video packets present",
        )
    unique_pts, first_of = np.unique(np.asarray(pts, dtype=np.int64), return_index=True)
    keyframes = np.flatnonzero(np.asarray(keys)[first_of])
    if len(keyframes) == 0 or keyframes[0] != 0:
        keyframes = np.concatenate([[0], keyframes])
    time_base = float(stream.time_base or 1)
    times = unique_pts * time_base
    last = durations[int(first_of[-1])] * time_base
    if last <= 0:  # no packet duration: one average frame interval
        last = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 1 / 25
    return _FrameTable(unique_pts, times, keyframes.astype(np.int64), float(times[-1] + last), discarded)


def _decord_reader(
    path: Path, info: VideoInfo, table: _FrameTable, size: tuple[int, int], stream: av.VideoStream
) -> decord.VideoReader | None:
    """A decord reader for the clip, or None where decord would disagree with the frame table."""
    if info.rotation:
        return _use_pyav(path, info, f"rotation {info.rotation}")
    if table.discarded:
        return _use_pyav(path, info, f"an edit list discards {table.discarded} packets")
    width, height = size if size != (info.width, info.height) else (-1, -1)
    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0), width=width, height=height)
    except (decord.DECORDError, RuntimeError, AssertionError) as exc:  # what its constructor raises
        return _use_pyav(path, info, f"decord cannot open it ({_message(exc)})")
    if len(reader) != len(table):
        return _use_pyav(path, info, f"decord counts {len(reader)} frames, the stream has {len(table)}")
    # decord times packets from the stream's start_time
    offset = float((stream.start_time or 0) * stream.time_base) if stream.time_base else 0.0
    stamps = reader.get_frame_timestamp(range(len(reader)))[:, 0].astype(np.float64) + offset
    if not np.allclose(stamps, table.times, rtol=0, atol=max(1e-3, 0.25 / info.fps)):
        return _use_pyav(path, info, "decord's timestamps disagree with the stream's")
    return reader


def _use_pyav(path: Path, info: VideoInfo, reason: str) -> None:
    log.debug("%s (%s): decoding with PyAV: %s", path.name, info.codec, reason)


# --------------------------------------------------------------------------------------------------------
# Limits, spans and scene statistics


def _check_pixels(width: int, height: int, limits: MediaLimits) -> None:
    if width <= 0 or height <= 0:
        raise MediaError(ErrorCode.BAD_DOCUMENT, f"the video stream has no frame size ({width}x{height})")
    if width * height > limits.max_video_pixels:
        raise MediaError(
            ErrorCode.TOO_LARGE,
            f"{width}x{height} frames are over the limit of max_video_pixels={limits.max_video_pixels}",
        )


def _check_duration(seconds: float, limits: MediaLimits) -> None:
    if seconds > limits.max_video_seconds:
        raise MediaError(
            ErrorCode.TOO_LARGE,
            f"{seconds:.3f} s is over the limit of max_video_seconds={limits.max_video_seconds:g}",
        )


def _check_frame_request(frames: int, limits: MediaLimits) -> None:
    if frames > limits.max_frames:
        raise MediaError(
            ErrorCode.TOO_LARGE,
            f"{frames} frames requested, over the limit of max_frames={limits.max_frames}",
        )


def _span(table: _FrameTable, window: Window | None) -> tuple[float, float]:
    """The clip's [start, end) in seconds, or `window` clamped to it; a window that misses it is an error."""
    start, end = float(table.times[0]), table.end_s
    if window is None:
        return start, end
    lo, hi = (float(v) for v in window)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise MediaError(ErrorCode.OUT_OF_RANGE, f"window ({lo:g}, {hi:g}) is not a finite start < end")
    if hi <= start or lo >= end:
        raise MediaError(
            ErrorCode.OUT_OF_RANGE, f"window ({lo:g}, {hi:g}) s lies outside the clip ({start:g}, {end:g}) s"
        )
    return max(lo, start), min(hi, end)


def _uniform_indices(table: _FrameTable, start: float, end: float, n: int) -> list[int]:
    midpoints = start + (np.arange(n) + 0.5) * ((end - start) / n)
    return np.unique(table.index_at(midpoints)).tolist()


def _colour_histogram(image: np.ndarray) -> np.ndarray:
    """Normalised joint RGB histogram with `_HIST_LEVELS` bins per channel."""
    q = (image.reshape(-1, 3) // (256 // _HIST_LEVELS)).astype(np.int64)
    bins = (q[:, 0] * _HIST_LEVELS + q[:, 1]) * _HIST_LEVELS + q[:, 2]
    return np.bincount(bins, minlength=_HIST_LEVELS**3) / len(bins)
