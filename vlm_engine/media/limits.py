"""Explicit limits for opening untrusted media.

One frozen dataclass with sane defaults; the service builds it from its settings and passes it down. Every
limit that is hit raises `MediaError(TOO_LARGE | TIMEOUT, ...)` naming the limit and the value found.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from vlm_engine.errors import ErrorCode, MediaError


@dataclass(frozen=True, slots=True)
class MediaLimits:
    max_bytes: int = 512 * 1024 * 1024  # any input file
    max_pages: int = 5_000  # PDF pages
    max_render_pixels: int = 40_000_000  # one rendered page or tile (about A4 at 600 dpi)
    max_image_pixels: int = 100_000_000  # decoded image; Pillow's bomb guard is set from this
    max_video_seconds: float = 4 * 3600.0
    max_video_pixels: int = 4096 * 2304  # one decoded frame (4K)
    max_frames: int = 2_048  # frames one sampling call may return
    max_seconds: float = 60.0  # wall time for one parsing operation (a document open, a sampling pass)


DEFAULT_LIMITS = MediaLimits()


class Deadline:
    """A wall-clock budget checked between steps of a long operation (pages, frames).

    It cannot interrupt a single call that hangs inside a C library: `sandbox.run_isolated` covers that by
    running untrusted parsing in a child process that is killed at its time limit.
    """

    def __init__(self, seconds: float, what: str):
        self.seconds = seconds
        self.what = what
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._end - time.monotonic()

    def check(self) -> None:
        if time.monotonic() > self._end:
            raise MediaError(ErrorCode.TIMEOUT, f"{self.what} ran past its time limit of {self.seconds:g} s")


def checked_size(path: str | Path, limits: MediaLimits) -> int:
    """The size of an input file in bytes, refusing anything over `limits.max_bytes`."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise MediaError(ErrorCode.BAD_DOCUMENT, f"cannot read {path.name}: {exc.strerror}") from None
    if size > limits.max_bytes:
        raise MediaError(ErrorCode.TOO_LARGE, f"{size} bytes is over the limit of {limits.max_bytes}")
    return size


def read_input(source: str | Path | bytes, limits: MediaLimits) -> bytes:
    """The bytes of an input file (or the bytes given), refusing anything over `limits.max_bytes`."""
    if isinstance(source, bytes):
        if len(source) > limits.max_bytes:
            raise MediaError(
                ErrorCode.TOO_LARGE, f"{len(source)} bytes is over the limit of {limits.max_bytes}"
            )
        return source
    checked_size(source, limits)
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise MediaError(ErrorCode.BAD_DOCUMENT, f"cannot read {Path(source).name}: {exc.strerror}") from None
