"""One summary of any supported file: what it is, how big, and what text it carries.

The dispatcher behind `python -m vlm_engine.media` and the ingest step: sniff the type from magic bytes,
open with the right module, and report kind-specific facts in one flat, JSON-ready dataclass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from sightline_common.sniff import MediaKind, sniff_file
from vlm_engine.errors import ErrorCode, MediaError
from vlm_engine.media import image, pdf, video
from vlm_engine.media.limits import DEFAULT_LIMITS, MediaLimits, checked_size


@dataclass(frozen=True)
class PageSummary:
    width: float  # displayed points
    height: float
    rotation: int
    words: int
    image_only: bool


@dataclass(frozen=True)
class MediaSummary:
    kind: str
    mime: str
    bytes: int
    # PDF
    pages: int | None = None
    page_sizes: list[PageSummary] | None = None
    text_words: int | None = None
    image_only_pages: list[int] | None = None
    repaired: bool | None = None
    # image and video
    width: int | None = None
    height: int | None = None
    # video
    duration_s: float | None = None
    fps: float | None = None
    frames: int | None = None
    rotation: int | None = None
    codec: str | None = None
    sampled_times_s: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None and v != []}


def probe(
    path: str | Path, password: str | None = None, frames: int = 0, limits: MediaLimits = DEFAULT_LIMITS
) -> MediaSummary:
    """Summarise the file at `path`; `frames` > 0 also samples that many video frame timestamps."""
    size = checked_size(path, limits)  # a video is never read into memory just to be summarised
    media_type = sniff_file(path)
    if media_type is None:
        raise MediaError(ErrorCode.UNSUPPORTED_TYPE, "the file's first bytes match no supported type")
    if media_type.kind is MediaKind.PDF:
        with pdf.PdfDocument.open(path, password=password, limits=limits) as doc:
            infos = list(doc.pages())
            return MediaSummary(
                kind=media_type.kind.value,
                mime=media_type.mime,
                bytes=size,
                pages=doc.page_count,
                page_sizes=[
                    PageSummary(round(p.width, 2), round(p.height, 2), p.rotation, p.word_count, p.image_only)
                    for p in infos
                ],
                text_words=sum(p.word_count for p in infos),
                image_only_pages=[p.index for p in infos if p.image_only],
                repaired=doc.is_repaired,
            )
    if media_type.kind is MediaKind.IMAGE:
        loaded = image.load_image(path, limits)
        return MediaSummary(
            kind=media_type.kind.value,
            mime=media_type.mime,
            bytes=size,
            width=loaded.width,
            height=loaded.height,
        )
    info = video.probe(path, limits)
    sampled = video.sample_uniform(path, frames, limits=limits) if frames > 0 else []
    return MediaSummary(
        kind=media_type.kind.value,
        mime=media_type.mime,
        bytes=size,
        width=info.width,
        height=info.height,
        duration_s=round(info.duration_s, 3),
        fps=round(info.fps, 3),
        frames=info.frame_count,
        rotation=info.rotation,
        codec=info.codec,
        sampled_times_s=[round(f.time_s, 3) for f in sampled],
    )


def summarize(path: str, password: str | None = None, frames: int = 0) -> dict:
    """`probe(...).to_dict()`, a module-level function so the sandbox's child process can import it."""
    return probe(path, password=password, frames=frames).to_dict()
