"""Typed FastAPI dependencies: the runtime's parts, a database session per request, the caller's tenant.

Authentication is an API key in the `X-API-Key` header (or as an `Authorization: Bearer` token, which
is how OpenAI clients send it to the chat endpoint), looked up by hash; every route that touches tenant
data depends on `TenantDep`, and every query it makes filters by that tenant, so another tenant's object is
indistinguishable from a missing one (404).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from service.crud import tenants as tenants_crud
from service.db.models import Tenant
from service.errors import ApiError, ErrorCode
from service.runtime import Runtime
from service.storage import LocalBlobStore

API_KEY_HEADER = "X-API-Key"
_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="The tenant's API key")
_bearer = HTTPBearer(auto_error=False, description="The tenant's API key as a bearer token (OpenAI clients)")


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_db(runtime: RuntimeDep) -> Iterator[Session]:
    with runtime.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]


def get_store(runtime: RuntimeDep) -> LocalBlobStore:
    return runtime.store


StoreDep = Annotated[LocalBlobStore, Depends(get_store)]


def get_tenant(
    session: SessionDep,
    api_key: Annotated[str | None, Security(_api_key)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Tenant:
    key = api_key or (bearer.credentials if bearer is not None else None)
    if not key:
        raise ApiError(401, ErrorCode.UNAUTHORIZED, f"send your API key in the {API_KEY_HEADER} header")
    tenant = tenants_crud.tenant_for_key(session, key)
    if tenant is None:
        raise ApiError(401, ErrorCode.UNAUTHORIZED, "unknown or revoked API key")
    return tenant


TenantDep = Annotated[Tenant, Depends(get_tenant)]
