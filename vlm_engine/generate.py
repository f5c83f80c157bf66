"""`python -m vlm_engine.generate`: ask a model about an image or a PDF page; print the answer and its boxes.

Design choices:
- The file is read in the isolated parser child (`media.sandbox.run_isolated`), as `python -m vlm_engine.media`
  does, so a hostile file can neither hang nor crash the command. The child sends back the pixels and the
  `View` that maps them to the source.
- A PDF page is rendered at `--dpi` and its boxes come back in points of the page as displayed; an image is
  used at its own pixels (EXIF orientation applied) and its boxes come back in those pixels. Each box also has
  `bbox_norm`, the box divided by the source size.
- Exit status: 0 with the result; 2 with `{"error": CODE, "detail": ...}` for bad input (a `MediaError` code)
  or a model the backend does not support (`unsupported_model`); 1 with `backend_failed` when a remote model
  server keeps failing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

import numpy as np

from sightline_common.sniff import MediaKind, sniff_bytes
from vlm_engine.backends.base import GenerationConfig, ImageInput, Prompt
from vlm_engine.backends.hf.families import UnsupportedModelError
from vlm_engine.backends.openai_backend import RemoteBackendError
from vlm_engine.backends.registry import BACKEND_KINDS, load_backend
from vlm_engine.errors import ErrorCode, MediaError
from vlm_engine.grounding import BoxDialect, View
from vlm_engine.media.image import load_image
from vlm_engine.media.limits import DEFAULT_LIMITS, read_input
from vlm_engine.media.pdf import PdfDocument
from vlm_engine.media.sandbox import run_isolated

SOURCE_UNITS = {MediaKind.PDF: "pt", MediaKind.IMAGE: "px"}


def read_source(
    path: str, page: int | None, dpi: float, password: str | None
) -> tuple[MediaKind, np.ndarray, View]:
    """The kind of file, and the pixels and view of the image or PDF page to show the model."""
    data = read_input(path, DEFAULT_LIMITS)
    media_type = sniff_bytes(data[:4096])
    if media_type is not None and media_type.kind is MediaKind.PDF:
        with PdfDocument.open(data, password=password) as document:
            rendered = document.page(page or 0).render(dpi)
        return media_type.kind, rendered.pixels, rendered.view
    if media_type is not None and media_type.kind is MediaKind.IMAGE:
        if page:
            raise MediaError(ErrorCode.OUT_OF_RANGE, f"an image has one page (0), not page {page}")
        image = ImageInput.whole(np.asarray(load_image(data).image))
        return media_type.kind, image.pixels, image.view
    found = media_type.mime if media_type else "unknown bytes"
    raise MediaError(ErrorCode.UNSUPPORTED_TYPE, f"not an image or a PDF ({found})")


def _backend_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict:
    if args.backend == "openai":
        if not args.base_url:
            parser.error("--base-url is required with --backend openai")
        return {
            "base_url": args.base_url,
            "api_key": args.api_key,
            "box_dialect": args.box_dialect,
            "timeout_s": args.timeout,
        }
    return {"device": args.device} if args.device else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vlm_engine.generate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--model", required=True, help="checkpoint directory, hub id, or served model name")
    parser.add_argument("--backend", choices=BACKEND_KINDS, default="hf")
    parser.add_argument("--image", required=True, help="an image or a PDF")
    parser.add_argument("--page", type=int, default=None, help="0-based PDF page (default 0)")
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--dpi", type=float, default=144.0, help="render resolution of a PDF page")
    parser.add_argument("--password", help="password of an encrypted PDF")
    parser.add_argument("--device", help="hf/native: cpu, cuda, cuda:1, ... (default: the backend's choice)")
    parser.add_argument("--base-url", help="openai: the server's API root, e.g. http://host:8000/v1")
    parser.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY"), help="openai: bearer token")
    parser.add_argument(
        "--box-dialect", choices=[d.value for d in BoxDialect], default=BoxDialect.GENERIC.value
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="openai: seconds per request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    options = _backend_options(parser, args)
    try:
        kind, pixels, view = run_isolated(read_source, args.image, args.page, args.dpi, args.password)
        backend = load_backend(args.backend, args.model, **options)
        prompt = Prompt(args.prompt, (ImageInput(pixels, view),))
        (generation,) = backend.generate([prompt], GenerationConfig(max_new_tokens=args.max_new_tokens))
    except MediaError as exc:
        print(json.dumps(exc.to_dict()))
        return 2
    except UnsupportedModelError as exc:
        print(json.dumps({"error": "unsupported_model", "detail": str(exc)}))
        return 2
    except RemoteBackendError as exc:
        print(json.dumps({"error": "backend_failed", "detail": str(exc)}))
        return 1
    source = view.source_region
    result = {
        "model": backend.name,
        "backend": args.backend,
        "source": {
            "kind": str(kind),
            "page": (args.page or 0) if kind is MediaKind.PDF else None,
            "unit": SOURCE_UNITS[kind],
            "width": round(source.width, 2),
            "height": round(source.height, 2),
        },
        "text": generation.text,
        "boxes": [
            {
                "box": b.box.as_list(),
                "bbox_norm": b.box.normalized(source.width, source.height).as_list(4),
                "label": b.label,
            }
            for b in generation.boxes
        ],
        "finish_reason": generation.finish_reason,
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "visual_tokens": generation.visual_tokens,
        "latency_ms": round(generation.latency_ms, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
