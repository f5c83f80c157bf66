"""docker-compose.yml and its Dockerfile agree with the code: service names, ports, queues, and every
SIGHTLINE_* variable is a settings field with a valid value. (Docker itself does not run here.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import make_url

from service.broker import INFER_QUEUE, INGEST_QUEUE
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("migrate", "api", "ingest-worker", "infer-worker", "beat")


def _env(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in SERVICES[service].get("environment", {}).items()}


def _settings_of(service: str, monkeypatch) -> Settings:
    """The Settings a container of `service` would load (compose's ${VAR:-default} resolved to the default)."""
    for name in list(Settings.model_fields):
        monkeypatch.delenv(f"SIGHTLINE_{name.upper()}", raising=False)
    for key, value in _env(service).items():
        monkeypatch.setenv(key, re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value))
    return Settings()


def test_the_services_are_all_there():
    assert set(SERVICES) == {"postgres", "redis", *APP_SERVICES}
    assert {"blobs", "models", "pgdata"} <= set(COMPOSE["volumes"])
    for name in ("postgres", "redis", "api", "ingest-worker", "infer-worker", "beat"):
        assert SERVICES[name]["healthcheck"]["test"], name


@pytest.mark.parametrize("service", APP_SERVICES)
def test_every_variable_is_a_setting_and_valid(service, monkeypatch):
    env = _env(service)
    assert env, service
    unknown = {
        k for k in env if not k.startswith("SIGHTLINE_") or k[10:].lower() not in Settings.model_fields
    }
    assert unknown == set()
    settings = _settings_of(service, monkeypatch)
    database = make_url(settings.database_url)
    assert (database.get_backend_name(), database.host, database.port) == ("postgresql", "postgres", 5432)
    assert database.username == SERVICES["postgres"]["environment"]["POSTGRES_USER"]
    assert database.database == SERVICES["postgres"]["environment"]["POSTGRES_DB"]
    assert settings.broker_url.startswith("redis://redis:6379/")
    mounts = {v.split(":")[1]: v.split(":")[0] for v in SERVICES[service].get("volumes", [])}
    if service != "beat" and service != "migrate":
        assert mounts.get(str(settings.blob_dir)) == "blobs"


def test_the_api_port_and_health_check_agree_with_the_settings(monkeypatch):
    settings = _settings_of("api", monkeypatch)
    assert f"{settings.api_port}:{settings.api_port}" in SERVICES["api"]["ports"]
    assert settings.api_host == "0.0.0.0"
    assert f"localhost:{settings.api_port}/readyz" in " ".join(SERVICES["api"]["healthcheck"]["test"])


def test_workers_consume_the_queues_the_service_sends_to():
    def queue_of(service: str) -> str:
        command = SERVICES[service]["command"]
        return command[command.index("-Q") + 1]

    assert (queue_of("ingest-worker"), queue_of("infer-worker")) == (INGEST_QUEUE, INFER_QUEUE)
    assert "solo" in SERVICES["infer-worker"]["command"]
    [device] = SERVICES["infer-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"]
    assert "models:/models" in SERVICES["infer-worker"]["volumes"]
    for service in APP_SERVICES:
        depends = SERVICES[service]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        if service != "migrate":
            assert depends["migrate"]["condition"] == "service_completed_successfully"


def test_the_dockerfile_copies_what_the_commands_run():
    dockerfile = SERVICES["api"]["build"]["dockerfile"]
    text = (ROOT / dockerfile).read_text()
    for path in ("service", "workers", "migrations", "alembic.ini", "vlm_engine", "sightline_common"):
        assert re.search(rf"^COPY .*\b{path}\b", text, re.M), path
        assert (ROOT / path).exists()
    assert "EXPOSE 8000" in text
