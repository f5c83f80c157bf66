"""File type from magic bytes, never from a file name or a client's content type.

Only the types Sightline handles are recognised; anything else is `None`, which callers turn into
`unsupported_type`. Pure Python on the first bytes of a file, so it is safe on untrusted input.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

SNIFF_BYTES = 4096


class MediaKind(StrEnum):
    PDF = "pdf"
    IMAGE = "image"
    VIDEO = "video"


@dataclass(frozen=True, slots=True)
class MediaType:
    mime: str
    kind: MediaKind


PDF = MediaType("application/pdf", MediaKind.PDF)
PNG = MediaType("image/png", MediaKind.IMAGE)
JPEG = MediaType("image/jpeg", MediaKind.IMAGE)
GIF = MediaType("image/gif", MediaKind.IMAGE)
WEBP = MediaType("image/webp", MediaKind.IMAGE)
TIFF = MediaType("image/tiff", MediaKind.IMAGE)
MP4 = MediaType("video/mp4", MediaKind.VIDEO)
MOV = MediaType("video/quicktime", MediaKind.VIDEO)
WEBM = MediaType("video/webm", MediaKind.VIDEO)
MKV = MediaType("video/x-matroska", MediaKind.VIDEO)
AVI = MediaType("video/x-msvideo", MediaKind.VIDEO)

_EBML_MAGIC = b"\x1a\x45\xdf\xa3"


def sniff_bytes(head: bytes) -> MediaType | None:
    """The media type of a file from its first bytes (at least the first 4096 for PDFs with junk before)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return AVI
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return TIFF
    if head[4:8] == b"ftyp":
        return MOV if head[8:12] == b"qt  " else MP4
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free") and b"ftyp" not in head[:64]:
        return MOV  # old QuickTime files start with an atom other than ftyp
    if head.startswith(_EBML_MAGIC):
        return WEBM if b"webm" in head[:64] else MKV
    # PDF readers accept the header anywhere in the first KiB (junk before it is common in the wild).
    if b"%PDF-" in head[:1024]:
        return PDF
    return None


def sniff_file(path: str | Path) -> MediaType | None:
    with open(path, "rb") as fh:
        return sniff_bytes(fh.read(SNIFF_BYTES))
