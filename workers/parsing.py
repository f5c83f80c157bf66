"""Ingest's untrusted parsing, meant to run inside `vlm_engine.media.sandbox.run_isolated`.

Probes the file (kind, pages or duration, sizes) and renders page images to PNG files in `out_dir`: PDF
pages 0..max_pages-1 at `dpi`, and an image's upright RGB as page 0. The caller (the ingest task, in the
trusted process) moves the PNGs into the blob store. Module-level functions, so the sandbox's child
process can import them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sightline_common.sniff import MediaKind
from vlm_engine.media.image import load_image
from vlm_engine.media.limits import MediaLimits
from vlm_engine.media.pdf import PdfDocument
from vlm_engine.media.probe import probe


@dataclass(frozen=True)
class IngestReport:
    summary: dict[str, Any]  # MediaSummary.to_dict()
    page_images: int  # PNGs written: 0.png .. {page_images - 1}.png


def ingest_file(path: str, out_dir: str, limits: MediaLimits, dpi: float, max_pages: int) -> IngestReport:
    summary = probe(path, limits=limits)
    out = Path(out_dir)
    written = 0
    if summary.kind == MediaKind.PDF:
        with PdfDocument.open(path, limits=limits) as doc:
            for index in range(min(doc.page_count, max_pages)):
                doc.page(index).render(dpi=dpi).image.save(out / f"{index}.png")
                written += 1
    elif summary.kind == MediaKind.IMAGE and max_pages > 0:
        load_image(path, limits).image.save(out / "0.png")
        written = 1
    return IngestReport(summary.to_dict(), written)
