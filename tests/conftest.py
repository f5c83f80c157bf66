"""Shared test fixtures: the real-file corpus and offline settings for every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS_DIR = Path(os.environ.get("SIGHTLINE_CORPUS", REPO_ROOT.parent / "shared" / "corpus")).resolve()


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not CORPUS_DIR.is_dir():
        pytest.fail(f"the shared corpus is missing at {CORPUS_DIR} (set SIGHTLINE_CORPUS)")
    return CORPUS_DIR
