"""Image decoding: magic-byte types, EXIF orientation, bombs and broken bytes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from vlm_engine.errors import ErrorCode, MediaError
from vlm_engine.media.image import load_image
from vlm_engine.media.limits import MediaLimits


def _encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _marked_image() -> Image.Image:
    """A 60x40 image, white with a red block in the top-left corner."""
    arr = np.full((40, 60, 3), 255, np.uint8)
    arr[:10, :15] = (255, 0, 0)
    return Image.fromarray(arr)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF", "GIF"])
def test_each_format_decodes_to_rgb(fmt):
    loaded = load_image(_encode(_marked_image(), fmt))
    assert loaded.image.mode == "RGB" and loaded.image.size == (60, 40)
    assert loaded.media_type.mime.startswith("image/")
    r, g, b = loaded.image.getpixel((3, 3))
    assert r > 200 and g < 80 and b < 80


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: a viewer turns it 90 degrees clockwise
    loaded = load_image(_encode(_marked_image(), "JPEG", exif=exif.tobytes()))
    assert loaded.exif_transposed
    assert loaded.image.size == (40, 60)
    r, g, _ = loaded.image.getpixel((36, 3))  # the red block is now in the top-right corner
    assert r > 200 and g < 80


def test_type_comes_from_bytes_not_name(tmp_path):
    path = tmp_path / "photo.png"
    path.write_bytes(_encode(_marked_image(), "JPEG"))
    assert load_image(path).media_type.mime == "image/jpeg"


def test_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    r, _, b = load_image(buf.getvalue()).image.getpixel((4, 4))
    assert r > 200 and b < 50


def test_decompression_bomb_is_too_large():
    data = _encode(Image.new("L", (4000, 4000)), "PNG")  # compresses to a few KB
    with pytest.raises(MediaError) as err:
        load_image(data, MediaLimits(max_image_pixels=1_000_000))
    assert err.value.code is ErrorCode.TOO_LARGE


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"hello world", ErrorCode.UNSUPPORTED_TYPE),
        (b"%PDF-1.4\n", ErrorCode.UNSUPPORTED_TYPE),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, ErrorCode.BAD_DOCUMENT),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 64, ErrorCode.BAD_DOCUMENT),
    ],
)
def test_bad_bytes_are_typed_errors(data, code):
    with pytest.raises(MediaError) as err:
        load_image(data)
    assert err.value.code is code


def test_truncated_jpeg_is_bad_document(corpus_dir):
    data = (corpus_dir / "receipts/img/000.jpg").read_bytes()
    with pytest.raises(MediaError) as err:
        load_image(data[: len(data) // 3])
    assert err.value.code is ErrorCode.BAD_DOCUMENT


def test_real_receipt_scan(corpus_dir):
    loaded = load_image(corpus_dir / "receipts/img/000.jpg")
    assert loaded.width > 100 and loaded.height > 100
