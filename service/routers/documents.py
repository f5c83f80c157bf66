"""`/v1/documents`: upload (streamed, limited, sniffed, deduplicated), metadata, page images, delete."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from service.crud import documents as documents_crud
from service.db.models import Document, DocumentStatus
from service.deps import RuntimeDep, SessionDep, StoreDep, TenantDep
from service.dispatch import dispatch_ingest
from service.errors import ApiError, ErrorCode, not_found
from service.schemas.common import problems
from service.schemas.documents import DocumentOut
from service.storage import document_prefix, page_key
from service.uploads import ACCEPTED, FILE_FIELD, receive_upload, store_document

router = APIRouter(prefix="/v1/documents", tags=["documents"])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {
                        FILE_FIELD: {
                            "type": "string",
                            "format": "binary",
                            "description": "The file: " + ", ".join(t.mime for t in ACCEPTED),
                        }
                    },
                }
            }
        },
    }
}


def _get(session: SessionDep, tenant_id: str, document_id: str) -> Document:
    document = documents_crud.get(session, tenant_id, document_id)
    if document is None:
        raise not_found("document", document_id)
    return document


@router.post(
    "",
    status_code=201,
    response_description="The new document (ingest runs next)",
    summary="Upload a file",
    description="Multipart upload, streamed to the blob store. The type is sniffed from the bytes. The same "
    "bytes uploaded again by the same tenant return the existing document with 200. Ingest (page count or "
    "duration, page images) runs in the background: poll the document until `status` is `ready`.",
    responses={200: {"model": DocumentOut, "description": "Already uploaded: the existing document"}}
    | problems(400, 413, 415),
    openapi_extra=_UPLOAD_BODY,
)
async def upload_document(
    request: Request, response: Response, tenant: TenantDep, session: SessionDep, runtime: RuntimeDep
) -> DocumentOut:
    async with receive_upload(request, runtime.store, runtime.settings.max_upload_bytes) as upload:
        document, created = await run_in_threadpool(store_document, session, runtime.store, tenant.id, upload)
    if created:
        await run_in_threadpool(dispatch_ingest, session, runtime.broker, document.id)
    else:
        response.status_code = 200
    response.headers["Location"] = f"/v1/documents/{document.id}"
    return DocumentOut.of(document)


@router.get("/{document_id}", summary="A document and what ingest found", responses=problems(404))
def get_document(document_id: str, tenant: TenantDep, session: SessionDep) -> DocumentOut:
    return DocumentOut.of(_get(session, tenant.id, document_id))


@router.get(
    "/{document_id}/pages/{page}/image",
    summary="A page rendered as PNG",
    description="Pages 0 to `page_images - 1` of a ready PDF (page 0 of an image) were rendered at ingest.",
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}, "description": "The page as PNG"}} | problems(404, 409),
)
def get_page_image(
    document_id: str, page: int, tenant: TenantDep, session: SessionDep, store: StoreDep
) -> FileResponse:
    document = _get(session, tenant.id, document_id)
    if document.status != DocumentStatus.READY:
        raise ApiError(409, ErrorCode.DOCUMENT_NOT_READY, f"document {document_id} is {document.status}")
    if not 0 <= page < document.page_images:
        raise ApiError(
            404,
            ErrorCode.PAGE_NOT_AVAILABLE,
            f"page {page} has no image; pages 0-{document.page_images - 1} do"
            if document.page_images
            else f"document {document_id} has no page images",
        )
    return FileResponse(store.path(page_key(tenant.id, document.id, page)), media_type="image/png")


@router.delete("/{document_id}", status_code=204, summary="Delete a document", responses=problems(404))
def delete_document(document_id: str, tenant: TenantDep, session: SessionDep, store: StoreDep) -> Response:
    """Deletes the file and its page images; its queued jobs are canceled and running ones asked to stop.
    Jobs and results already finished stay readable."""
    document = _get(session, tenant.id, document_id)
    documents_crud.soft_delete(session, document)
    store.delete_prefix(document_prefix(tenant.id, document.id))
    return Response(status_code=204)
