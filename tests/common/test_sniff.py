"""Magic-byte sniffing against real corpus files and crafted headers."""

from __future__ import annotations

import pytest

from sightline_common.sniff import MediaKind, sniff_bytes, sniff_file


@pytest.mark.parametrize(
    ("relpath", "mime"),
    [
        ("pdf/real/minimal-document.pdf", "application/pdf"),
        ("receipts/img/000.jpg", "image/jpeg"),
        ("video/real/nasa_13013.mp4", "video/mp4"),
        ("video/real/flipping_a_pancake.mkv", "video/x-matroska"),
        ("video/codecs/testsrc2_vp9.webm", "video/webm"),
        ("video/codecs/testsrc2_mpeg4.avi", "video/x-msvideo"),
    ],
)
def test_corpus_files(corpus_dir, relpath, mime):
    assert sniff_file(corpus_dir / relpath).mime == mime


@pytest.mark.parametrize(
    ("head", "mime", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n....", "image/png", MediaKind.IMAGE),
        (b"GIF89a....", "image/gif", MediaKind.IMAGE),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp", MediaKind.IMAGE),
        (b"II*\x00\x08\x00", "image/tiff", MediaKind.IMAGE),
        (b"MM\x00*\x00\x08", "image/tiff", MediaKind.IMAGE),
        (b"\x00\x00\x00\x14ftypqt  ", "video/quicktime", MediaKind.VIDEO),
        (b"junk before the header %PDF-1.4", "application/pdf", MediaKind.PDF),
    ],
)
def test_crafted_headers(head, mime, kind):
    media_type = sniff_bytes(head)
    assert media_type is not None and (media_type.mime, media_type.kind) == (mime, kind)


@pytest.mark.parametrize("head", [b"", b"hello", b"PK\x03\x04zipfile", b"<html>", b"%PD"])
def test_unknown_bytes(head):
    assert sniff_bytes(head) is None
