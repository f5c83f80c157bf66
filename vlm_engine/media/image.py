"""Still images (PNG, JPEG, WebP, TIFF, GIF) decoded defensively into upright RGB.

Design choices:
- The type comes from magic bytes (`sniff`), and Pillow must agree with it: a JPEG named .png is a JPEG, a
  PNG header on other bytes is `bad_document`.
- Pillow's decompression-bomb guard is set explicitly from `MediaLimits.max_image_pixels`, and the pixel
  count is checked from the header before any pixel is decoded.
- EXIF orientation is applied, so image pixels (the evidence unit for images) are those of the image as a
  person sees it. GIFs and multi-page TIFFs give their first frame.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from sightline_common.sniff import GIF, JPEG, PNG, TIFF, WEBP, MediaKind, MediaType, sniff_bytes
from vlm_engine.errors import ErrorCode, MediaError
from vlm_engine.media.limits import DEFAULT_LIMITS, MediaLimits, read_input

# Pillow format names for each sniffed type: the decoder must be the one the magic bytes announced.
_PIL_FORMATS = {PNG: "PNG", JPEG: "JPEG", GIF: "GIF", WEBP: "WEBP", TIFF: "TIFF"}


@dataclass(frozen=True, slots=True)
class LoadedImage:
    image: Image.Image  # RGB, EXIF orientation applied
    media_type: MediaType
    exif_transposed: bool  # True when EXIF orientation changed the pixels

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height


def load_image(source: str | Path | bytes, limits: MediaLimits = DEFAULT_LIMITS) -> LoadedImage:
    """Decode an untrusted image file or byte string into upright RGB, or raise MediaError."""
    data = read_input(source, limits)
    media_type = sniff_bytes(data[:4096])
    if media_type is None or media_type.kind is not MediaKind.IMAGE:
        found = media_type.mime if media_type else "unknown bytes"
        raise MediaError(ErrorCode.UNSUPPORTED_TYPE, f"not a supported image ({found})")
    Image.MAX_IMAGE_PIXELS = limits.max_image_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[media_type]]) as img:
                pixels = img.width * img.height
                if pixels > limits.max_image_pixels:
                    raise MediaError(
                        ErrorCode.TOO_LARGE,
                        f"{img.width}x{img.height} is over the limit of {limits.max_image_pixels} pixels",
                    )
                img.seek(0)
                transposed = _orientation(img) not in (0, 1)
                rgb = _to_rgb(ImageOps.exif_transpose(img))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaError(ErrorCode.TOO_LARGE, str(exc)) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise MediaError(
            ErrorCode.BAD_DOCUMENT, f"cannot decode the {media_type.mime} image: {exc}"
        ) from None
    return LoadedImage(rgb, media_type, transposed)


def _orientation(img: Image.Image) -> int:
    return int(img.getexif().get(0x0112, 1) or 1)


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB with transparency composited on white (what a viewer shows), fully decoded now."""
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    rgb = img.convert("RGB")
    rgb.load()
    return rgb
