"""Document bodies: what the upload stored and what ingest found (pages, or duration and frame size)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from service.db.models import Document
from service.schemas.common import ErrorOut


class DocumentOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "doc_0192f3a4b5c6d7e8f9a0b1c2d3e4f5a6",
                    "status": "ready",
                    "kind": "pdf",
                    "mime": "application/pdf",
                    "size_bytes": 24607,
                    "sha256": "9f2c0d8e5b6f4a1c3e7d9b0a2c4e6f8a1b3d5f7e9c0a2b4d6f8e0a1c3e5b7d9f",
                    "filename": "report.pdf",
                    "pages": 4,
                    "duration_s": None,
                    "width": None,
                    "height": None,
                    "page_images": 4,
                    "media": {"page_sizes": [{"width": 612.0, "height": 792.0, "rotation": 0}]},
                    "error": None,
                    "created_at": "2026-11-29T09:00:00Z",
                }
            ]
        }
    )

    id: str
    status: str  # processing | ready | failed
    kind: str  # pdf | image | video
    mime: str
    size_bytes: int
    sha256: str
    filename: str | None
    pages: int | None  # PDFs; 1 for an image
    duration_s: float | None  # videos
    width: int | None  # images and videos, pixels (upright)
    height: int | None
    page_images: int  # pages 0..page_images-1 can be fetched as PNG
    media: dict[str, Any] | None  # the full probe summary (page sizes in points, fps, codec, ...)
    error: ErrorOut | None
    created_at: datetime

    @classmethod
    def of(cls, doc: Document) -> DocumentOut:
        return cls(
            id=doc.id,
            status=doc.status,
            kind=doc.kind,
            mime=doc.mime,
            size_bytes=doc.size_bytes,
            sha256=doc.sha256,
            filename=doc.filename,
            pages=doc.pages,
            duration_s=doc.duration_s,
            width=doc.width,
            height=doc.height,
            page_images=doc.page_images,
            media=doc.meta,
            error=ErrorOut(code=doc.error_code, detail=doc.error_detail or "") if doc.error_code else None,
            created_at=doc.created_at,
        )
