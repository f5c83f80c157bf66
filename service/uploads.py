"""From an HTTP upload to a stored document: streamed, limited, sniffed, hashed and deduplicated.

Design choices:
- The multipart body is parsed as it arrives (python-multipart's push parser), and the file part is written
  straight to a staging file of the blob store while its sha256 is computed: memory stays flat for any
  size, and nothing is spooled anywhere else.
- The byte limit is enforced twice: a declared Content-Length over it is refused before reading a byte,
  and the running count stops a body that lies or is chunked. Either way the answer is 413 and the staging
  file is removed: nothing is kept.
- The type is sniffed from the first bytes (`sightline_common.sniff`), never from the file name or the
  client's content type, and a refused type stops the upload as soon as its head is known.
- Dedup is per tenant on sha256 among live documents; a race between two equal uploads is settled by the
  unique index, and the loser returns the winner's document.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from service.crud import documents as documents_crud
from service.db.models import Document, DocumentStatus
from service.errors import ApiError, ErrorCode
from service.ids import new_id
from service.storage import LocalBlobStore, document_prefix, source_key
from sightline_common.sniff import (
    JPEG,
    MKV,
    MOV,
    MP4,
    PDF,
    PNG,
    SNIFF_BYTES,
    TIFF,
    WEBM,
    WEBP,
    MediaType,
    sniff_bytes,
)

ACCEPTED = (PDF, PNG, JPEG, WEBP, TIFF, MP4, WEBM, MKV, MOV)
FILE_FIELD = "file"
MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around the file, allowed over the limit
_WRITE_BATCH = 1024 * 1024


@dataclass
class StagedUpload:
    path: Path
    size: int
    sha256: str
    media_type: MediaType
    filename: str | None


class _FilePart:
    """Callbacks of the push parser: keeps the bytes of the `file` part, ignores every other part."""

    def __init__(self) -> None:
        self.pending: list[bytes] = []
        self.filename: str | None = None
        self.seen = False
        self._in_file = False
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def take(self) -> list[bytes]:
        chunks, self.pending = self.pending, []
        return chunks

    def _part_begin(self) -> None:
        self._disposition = b""
        self._in_file = False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if options.get(b"name") == FILE_FIELD.encode() and not self.seen:
            self._in_file = self.seen = True
            name = options.get(b"filename")
            self.filename = name.decode("utf-8", "replace")[-255:] if name else None

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.pending.append(data[start:end])

    def _part_end(self) -> None:
        self._in_file = False


def _check_type(head: bytes) -> MediaType:
    media_type = sniff_bytes(head)
    if media_type not in ACCEPTED:
        found = media_type.mime if media_type else "unrecognised bytes"
        accepted = ", ".join(t.mime for t in ACCEPTED)
        raise ApiError(415, ErrorCode.UNSUPPORTED_TYPE, f"{found} is not accepted; send one of {accepted}")
    return media_type


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, ErrorCode.TOO_LARGE, f"the file is over the upload limit of {max_bytes} bytes")


@asynccontextmanager
async def receive_upload(
    request: Request, store: LocalBlobStore, max_bytes: int
) -> AsyncIterator[StagedUpload]:
    """Stream the `file` part of a multipart request into a staging file, removed again on exit unless the
    body of the `with` moved it into the store."""
    staged = store.staging_path()
    try:
        yield await _stream_to(staged, request, max_bytes)
    finally:
        staged.unlink(missing_ok=True)


async def _stream_to(staged: Path, request: Request, max_bytes: int) -> StagedUpload:
    content_type, params = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise ApiError(
            400, ErrorCode.BAD_MULTIPART, "send the file as multipart/form-data in a part named 'file'"
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes + MULTIPART_SLACK:
        raise _too_large(max_bytes)
    part = _FilePart()
    parser = MultipartParser(params[b"boundary"], part.callbacks())
    digest = hashlib.sha256()
    head = b""
    media_type: MediaType | None = None
    size = received = 0
    try:
        with open(staged, "wb") as sink:
            batch: list[bytes] = []
            async for chunk in request.stream():
                received += len(chunk)
                if received > max_bytes + MULTIPART_SLACK:  # other parts count too
                    raise _too_large(max_bytes)
                parser.write(chunk)
                for data in part.take():
                    size += len(data)
                    if size > max_bytes:
                        raise _too_large(max_bytes)
                    digest.update(data)
                    if media_type is None:
                        head += data[: SNIFF_BYTES - len(head)]
                        if len(head) >= SNIFF_BYTES:
                            media_type = _check_type(head)
                    batch.append(data)
                if sum(map(len, batch)) >= _WRITE_BATCH:
                    await run_in_threadpool(_write_all, sink, batch)
                    batch = []
            parser.finalize()
            await run_in_threadpool(_write_all, sink, batch)
    except MultipartParseError as exc:
        raise ApiError(400, ErrorCode.BAD_MULTIPART, f"malformed multipart body: {exc}") from None
    except ClientDisconnect:
        raise ApiError(400, ErrorCode.BAD_MULTIPART, "the client went away during the upload") from None
    if not part.seen:
        raise ApiError(400, ErrorCode.BAD_MULTIPART, "no part named 'file' in the request")
    if size == 0:
        raise ApiError(415, ErrorCode.UNSUPPORTED_TYPE, "the file is empty")
    return StagedUpload(staged, size, digest.hexdigest(), media_type or _check_type(head), part.filename)


@contextmanager
def stage_bytes(
    store: LocalBlobStore, data: bytes, max_bytes: int, filename: str | None
) -> Iterator[StagedUpload]:
    """The same checks for a file that arrived whole (an image inlined in a chat message)."""
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    if not data:
        raise ApiError(415, ErrorCode.UNSUPPORTED_TYPE, "the file is empty")
    media_type = _check_type(data[:SNIFF_BYTES])
    staged = store.staging_path()
    try:
        staged.write_bytes(data)
        yield StagedUpload(staged, len(data), hashlib.sha256(data).hexdigest(), media_type, filename)
    finally:
        staged.unlink(missing_ok=True)


def _write_all(sink: BinaryIO, chunks: list[bytes]) -> None:
    for chunk in chunks:
        sink.write(chunk)


def store_document(
    session: Session, store: LocalBlobStore, tenant_id: str, upload: StagedUpload
) -> tuple[Document, bool]:
    """The tenant's live document with these bytes, or a new one (moved into the store); True if new."""
    existing = documents_crud.find_live_by_sha256(session, tenant_id, upload.sha256)
    if existing is not None:
        return existing, False
    document_id = new_id("doc")
    key = source_key(tenant_id, document_id)
    store.commit(upload.path, key)
    document = Document(
        id=document_id,
        tenant_id=tenant_id,
        sha256=upload.sha256,
        mime=upload.media_type.mime,
        kind=upload.media_type.kind.value,
        size_bytes=upload.size,
        filename=upload.filename,
        blob_key=key,
        status=DocumentStatus.PROCESSING,
    )
    session.add(document)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        store.delete_prefix(document_prefix(tenant_id, document_id))
        winner = documents_crud.find_live_by_sha256(session, tenant_id, upload.sha256)
        if winner is None:
            raise
        return winner, False
    return document, True
