"""The embedded default: `python -m service` alone (SQLite, local blobs, filesystem broker, its own
workers and beat) answers a grounded question over real HTTP, and Ctrl-C (SIGINT) stops every process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.integration.conftest import REPO_ROOT, wait_for
from vlm_engine.backends.base import ImageInput, Prompt
from vlm_engine.backends.openai_backend import OpenAIBackend

pytestmark = pytest.mark.slow

KEY = "sl_embedded-test-key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_one_command_runs_everything(tmp_path, corpus_dir):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_")}
    env.update(
        SIGHTLINE_DATABASE_URL=f"sqlite:///{tmp_path}/sightline.db",
        SIGHTLINE_BLOB_DIR=str(tmp_path / "blobs"),
        SIGHTLINE_BROKER_DIR=str(tmp_path / "broker"),
        SIGHTLINE_API_PORT=str(port),
        SIGHTLINE_BOOTSTRAP_API_KEY=KEY,
    )
    log = open(tmp_path / "service.log", "wb")  # noqa: SIM115  (closed at the end)
    proc = subprocess.Popen(
        [sys.executable, "-m", "service"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(url), 60, "the embedded service to be ready", interval=0.5)
        headers = {"X-API-Key": KEY}
        with open(corpus_dir / "pdf/real/pdflatex-4-pages.pdf", "rb") as fh:
            document = httpx.post(
                f"{url}/v1/documents", headers=headers, files={"file": fh}, timeout=30
            ).json()
        body = {"document_id": document["id"], "task": "qa", "question": "What is this document about?"}
        job_id = httpx.post(f"{url}/v1/jobs", headers=headers, json=body, timeout=30).json()["id"]
        job = wait_for(
            lambda: (
                (j := httpx.get(f"{url}/v1/jobs/{job_id}", headers=headers, timeout=10).json())["status"]
                in ("succeeded", "failed")
                and j
            ),
            120,
            "the job to finish",
            interval=0.5,
        )
        assert job["status"] == "succeeded", job
        assert job["result"]["evidence"] and job["result"]["evidence"][0]["page"] is not None
        image = httpx.get(f"{url}/v1/documents/{document['id']}/pages/0/image", headers=headers, timeout=10)
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
        # the engine's own OpenAI-compatible client, pointed at the service's chat endpoint over real HTTP
        backend = OpenAIBackend("sightline", f"{url}/v1", api_key=KEY, timeout_s=120, max_retries=0)
        receipt = np.asarray(Image.open(corpus_dir / "receipts/img/000.jpg").convert("RGB"))
        [generation] = backend.generate([Prompt("What is the total?", (ImageInput.whole(receipt),))])
        assert generation.text and generation.finish_reason == "stop"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        finally:
            log.close()
    wait_for(lambda: not _group_alive(proc.pid), 20, "every child of the service to exit")


def _group_alive(pgid: int) -> bool:
    return bool(subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout.split())
