"""The settings class: environment prefix, embedded defaults, and the timing invariants checked on load."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.settings import Settings


def test_defaults_are_the_embedded_setup(monkeypatch):
    for name in Settings.model_fields:
        monkeypatch.delenv(f"SIGHTLINE_{name.upper()}", raising=False)
    settings = Settings()
    assert settings.database_url.startswith("sqlite:///") and settings.broker_url == "filesystem://"
    assert settings.engine == "real"


def test_environment_variables_use_the_prefix(monkeypatch):
    monkeypatch.setenv("SIGHTLINE_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("SIGHTLINE_ENGINE", "echo")
    settings = Settings()
    assert (settings.max_attempts, settings.engine) == (7, "echo")


@pytest.mark.parametrize(
    "values",
    [
        {"heartbeat_s": 60, "job_lease_s": 60},  # a beat no shorter than the lease loses live jobs
        {"visibility_timeout_s": 3600, "max_job_seconds": 3600},  # Redis would redeliver running jobs
        {"engine": "imaginary"},
        {"max_attempts": 0},
    ],
)
def test_inconsistent_settings_are_refused(values):
    with pytest.raises(ValidationError):
        Settings(**values)
