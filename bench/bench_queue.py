"""Queue overhead, side by side: `python bench/bench_queue.py [--jobs 200] [--sequential 20]`.

(a) direct: the engine called in this process, no queue: the benchmark double (`echo`, no parsing, no model)
    and the real `run_task` on a small PDF (what a trivial real job costs).
(b) queued: the same trivial jobs through the real path: API (ASGI, in process) -> Postgres -> Redis ->
    `celery worker` (one process, solo pool, SIGHTLINE_ENGINE=echo) -> Postgres -> read back over the API.
    Throughput: one batch of N jobs, wall time until all succeeded. Latency: M jobs one at a time, each
    from POST to `succeeded` seen by GET (polled every 10 ms).
Needs Postgres and Redis (127.0.0.1 by default); uses a throwaway database and Redis key prefix.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pymupdf
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service import migrate
from service.app import create_app
from service.cli import create_key
from service.settings import Settings
from vlm_engine.engine import TaskRequest, run_task
from workers.engines import echo_engine

POSTGRES_URL = os.environ.get(
    "SIGHTLINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("SIGHTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parents[1]
WORKER_FLAGS = ["--pool", "solo", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"]


def small_pdf(path: Path) -> Path:
    doc = pymupdf.open()
    page = doc.new_page()
    for j in range(30):
        page.insert_text((72, 60 + j * 20), f"Line {j}: invoice total {j * 7} EUR", fontsize=11)
    doc.save(path)
    return path


def per_job_ms(fn, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1e3


def wait(check, timeout: float, interval: float = 0.01):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise TimeoutError("the queued jobs did not finish in time")
        time.sleep(interval)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--sequential", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    pdf = small_pdf(work / "small.pdf")
    request = TaskRequest("qa", str(pdf), "Which line says invoice total 49?")

    echo_ms = per_job_ms(lambda: echo_engine(request), args.jobs)
    run_task(request)  # warm the OCR/text paths once
    real_ms = per_job_ms(lambda: run_task(request), max(5, args.jobs // 20))

    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"sightline_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    settings = Settings(
        database_url=make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False),
        broker_url=REDIS_URL,
        broker_key_prefix=f"{name}:",
        blob_dir=work / "blobs",
        engine="echo",
        max_batch_jobs=max(10_000, args.jobs),
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_")}
    env.update({f"SIGHTLINE_{f.upper()}": str(getattr(settings, f)) for f in settings.model_fields_set})
    worker = None
    try:
        migrate.upgrade(settings.database_url)
        key = create_key(settings, "bench")
        headers = {"X-API-Key": key}
        log = open(work / "worker.log", "wb")  # noqa: SIM115
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "workers.app",
                "worker",
                "-Q",
                "ingest,infer",
                *WORKER_FLAGS,
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        with TestClient(create_app(settings)) as api:
            with open(pdf, "rb") as fh:
                document = api.post("/v1/documents", headers=headers, files={"file": fh}).json()
            wait(
                lambda: (
                    api.get(f"/v1/documents/{document['id']}", headers=headers).json()["status"] == "ready"
                ),
                120,
            )
            job = {
                "document_id": document["id"],
                "task": "qa",
                "question": "Which line says invoice total 49?",
            }

            latencies = []
            for _ in range(args.sequential):
                started = time.perf_counter()
                job_id = api.post("/v1/jobs", headers=headers, json=job).json()["id"]
                wait(
                    lambda url=f"/v1/jobs/{job_id}": (
                        api.get(url, headers=headers).json()["status"] == "succeeded"
                    ),
                    60,
                )
                latencies.append((time.perf_counter() - started) * 1e3)

            started = time.perf_counter()
            batch = api.post("/v1/batches", headers=headers, json={"jobs": [job] * args.jobs}).json()
            wait(
                lambda: (
                    api.get(f"/v1/batches/{batch['id']}", headers=headers).json()["counts"]["succeeded"]
                    == args.jobs
                ),
                600,
                interval=0.05,
            )
            queued_ms = (time.perf_counter() - started) / args.jobs * 1e3
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    p50 = statistics.median(latencies)
    p95 = sorted(latencies)[max(0, int(len(latencies) * 0.95) - 1)]
    print(f"{'way':58s} {'ms/job':>10s}")
    print(f"{'(a) direct, benchmark double (echo), in process':58s} {echo_ms:10.3f}")
    print(f"{'(a) direct, real run_task on a 1-page PDF, in process':58s} {real_ms:10.3f}")
    print(f"{f'(b) queued, echo, batch of {args.jobs} (throughput, 1 worker)':58s} {queued_ms:10.3f}")
    print(
        f"{f'(b) queued, echo, one at a time (latency p50 / p95 of {args.sequential})':58s} {p50:10.3f} / {p95:.3f}"
    )
    print(
        f"queue cost per job in a batch = {queued_ms:.1f} ms = {queued_ms / real_ms:.2f}x a trivial real job"
    )
    print(
        f"round trip of one job = {p50:.1f} ms = {p50 / real_ms:.2f}x a trivial real job (ratio to (a) real)"
    )


if __name__ == "__main__":
    main()
