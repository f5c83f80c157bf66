"""Errors as RFC 9457 problem details (`application/problem+json`) with a stable machine-readable `code`.

Design choices:
- Routes raise `ApiError(status, code, detail)`; handlers turn it, FastAPI's validation errors, Starlette's
  HTTP errors and unexpected exceptions into the same JSON shape, so clients switch on `code` alone.
- `ErrorCode` lists every code the API can return; they never change meaning. Job and document failures
  reuse the engine's media codes (`encrypted`, `bad_document`, `timeout`, ...) in their `error.code`.
- Unexpected exceptions are logged with their traceback and answered with `internal_error`, never with
  internals.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class ErrorCode(StrEnum):
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    INVALID_REQUEST = "invalid_request"
    BAD_MULTIPART = "bad_multipart"
    TOO_LARGE = "too_large"
    UNSUPPORTED_TYPE = "unsupported_type"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    NOT_CANCELABLE = "not_cancelable"
    PAGE_NOT_AVAILABLE = "page_not_available"
    DOCUMENT_NOT_READY = "document_not_ready"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNAVAILABLE = "unavailable"
    JOB_FAILED = "job_failed"
    TIMEOUT = "timeout"
    INTERNAL_ERROR = "internal_error"


_CODE_OF_STATUS = {
    401: ErrorCode.UNAUTHORIZED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_TYPE,
    422: ErrorCode.INVALID_REQUEST,
}


class ApiError(Exception):
    def __init__(self, status: int, code: ErrorCode, detail: str, extra: dict[str, Any] | None = None):
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra or {}


def not_found(what: str, id_: str) -> ApiError:
    return ApiError(404, ErrorCode.NOT_FOUND, f"no {what} {id_!r}")


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"https://sightline.dev/problems/{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    headers = {"WWW-Authenticate": "ApiKey"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return problem(exc.status, exc.code, exc.detail, **exc.extra)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return problem(422, ErrorCode.INVALID_REQUEST, "the request does not match the schema", errors=errors)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODE_OF_STATUS.get(exc.status_code, ErrorCode.INVALID_REQUEST)
    return problem(exc.status_code, code, str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, ErrorCode.INTERNAL_ERROR, "an internal error occurred; it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
