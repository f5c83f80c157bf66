"""The FastAPI application: routers, error handlers, the OpenAPI document, and the runtime it serves from.

`create_app(settings)` builds everything from one `Settings` (tests pass their own). The OpenAPI document
is post-processed once so that problem responses are declared as `application/problem+json`, which is what
the handlers send.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.broker import make_celery
from service.errors import PROBLEM_JSON, install_error_handlers
from service.metrics import make_registry
from service.routers import batches, chat, documents, health, jobs
from service.runtime import Runtime
from service.settings import Settings, get_settings

DESCRIPTION = """\
Grounded answers about PDFs, images and videos. Upload a file, ask questions (singly or in batches), and
fetch each answer by ID with its **evidence**: the page (or video time) and the box it was read from, in the
source's own coordinates (PDF points of the displayed page, image or frame pixels) and normalised to [0, 1].

Authenticate with your tenant's API key in the `X-API-Key` header. Errors are problem details
(`application/problem+json`) with a stable `code`.
"""

TAGS = [
    {
        "name": "documents",
        "description": "Upload files; ingest finds pages or duration and renders page images.",
    },
    {"name": "jobs", "description": "One question about one document, run by the workers."},
    {"name": "batches", "description": "Many jobs at once; results as JSON Lines."},
    {"name": "chat", "description": "OpenAI-compatible chat completions over one file (a job, waited for)."},
    {"name": "operations", "description": "Health, readiness and Prometheus metrics (no key needed)."},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    runtime = Runtime.build(settings, make_celery(settings, "sightline-api", set_as_current=False))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        runtime.close()

    app = FastAPI(
        title="Sightline", version="0.1.0", description=DESCRIPTION, openapi_tags=TAGS, lifespan=lifespan
    )
    app.state.runtime = runtime
    app.state.metrics = make_registry(runtime)
    install_error_handlers(app)
    for router in (documents.router, jobs.router, batches.router, chat.router, health.router):
        app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            app.openapi_schema = _problems_as_problem_json(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _problems_as_problem_json(schema: dict[str, Any]) -> dict[str, Any]:
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[0] in "45" and "application/json" in content:
                    content[PROBLEM_JSON] = content.pop("application/json")
    return schema
