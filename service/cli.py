"""`python -m service [run | api | migrate | create-key]`: the service's command line.

- `run` (the default): everything in one process tree, the embedded default (`service.embedded`).
- `api`: the API alone (production; workers and beat are started with `celery -A workers.app ...`).
- `migrate`: `alembic upgrade head` on `SIGHTLINE_DATABASE_URL`, then the bootstrap API key if one is set.
- `create-key --tenant NAME`: a new API key for a tenant (created if needed), printed once.
"""

from __future__ import annotations

import argparse
import sys

import uvicorn

from service import embedded, migrate
from service.app import create_app
from service.crud import tenants as tenants_crud
from service.db.session import make_engine, make_sessionmaker
from service.logs import configure_logging
from service.settings import Settings, get_settings


def create_key(settings: Settings, tenant_name: str) -> str:
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            key = tenants_crud.add_key(session, tenants_crud.get_or_create_tenant(session, tenant_name))
            session.commit()
            return key
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="API + workers + beat, embedded (the default)")
    commands.add_parser("api", help="the API alone")
    commands.add_parser("migrate", help="upgrade the database schema to the latest revision")
    key_parser = commands.add_parser("create-key", help="create an API key for a tenant")
    key_parser.add_argument("--tenant", required=True)
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level)
    if args.command in (None, "run"):
        embedded.run(settings)
    elif args.command == "api":
        uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, log_config=None)
    elif args.command == "migrate":
        migrate.upgrade(settings.database_url)
        embedded.ensure_api_key(settings, create_if_none=False)
    else:
        sys.stdout.write(create_key(settings, args.tenant) + "\n")
    return 0
