"""The quickstart demo: run the embedded service, upload three files, run a batch, show grounded answers.

It starts `python -m service` (SQLite, filesystem broker, local blobs under data/demo), uploads a generated
two-page PDF with a bar chart, a scanned receipt and a short video from the shared corpus, runs a batch of
questions over real HTTP, prints each answer with its evidence (page or time, box in source units), and
writes PNGs with the evidence boxes drawn to data/demo/out/. A client of the API, as a user would write it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pymupdf
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("SIGHTLINE_CORPUS", ROOT.parent / "shared" / "corpus"))
BAR_DATA = {"2021": 120, "2022": 185, "2023": 240, "2024": 210}


def make_report_pdf(path: Path) -> None:
    """Page 1: a short text; page 2: a bar chart of revenue per year, with labels."""
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 90), "Annual report 2024", fontsize=22)
    page.insert_text((72, 130), "Revenue peaked in 2023 at 240 million euros.", fontsize=12)
    page.insert_text((72, 150), "Invoice number: INV-2024-0042", fontsize=12)
    chart = doc.new_page()
    chart.insert_text((72, 80), "Revenue by year (million EUR)", fontsize=16)
    base_y, left = 600, 110
    for i, (year, value) in enumerate(BAR_DATA.items()):
        x0 = left + i * 100
        chart.draw_rect(
            pymupdf.Rect(x0, base_y - value * 1.8, x0 + 60, base_y), color=None, fill=(0.2, 0.4, 0.8)
        )
        chart.insert_text((x0 + 12, base_y + 20), year, fontsize=12)
        chart.insert_text((x0 + 14, base_y - value * 1.8 - 8), str(value), fontsize=11)
    doc.save(path)


def wait_ready(client: httpx.Client, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the service exited with code {process.returncode}")
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit("the service did not become ready")


def upload(client: httpx.Client, path: Path) -> dict:
    with open(path, "rb") as fh:
        response = client.post("/v1/documents", files={"file": (path.name, fh)})
    response.raise_for_status()
    return response.json()


def wait_for(client: httpx.Client, url: str, done, seconds: float = 600) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = client.get(url).raise_for_status().json()
        if done(body):
            return body
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {url}")


def draw_evidence(client: httpx.Client, job: dict, documents: dict[str, dict], out_dir: Path) -> list[Path]:
    """One PNG per page or image with the job's evidence boxes drawn, scaled from bbox_norm."""
    document = documents[job["document_id"]]
    written = []
    by_page: dict[int, list[dict]] = {}
    for ev in (job.get("result") or {}).get("evidence", []):
        if ev.get("time_s") is None:
            by_page.setdefault(ev.get("page") or 0, []).append(ev)
    for page, evidence in by_page.items():
        if document["kind"] == "pdf":
            png = client.get(f"/v1/documents/{document['id']}/pages/{page}/image").raise_for_status().content
            image = Image.open(io.BytesIO(png)).convert("RGB")
        else:
            image = Image.open(document["local_path"]).convert("RGB")
        draw = ImageDraw.Draw(image)
        for ev in evidence:
            x0, y0, x1, y1 = ev["bbox_norm"]
            box = [x0 * image.width, y0 * image.height, x1 * image.width, y1 * image.height]
            draw.rectangle(box, outline=(230, 30, 30), width=3)
        path = out_dir / f"{job['id']}_p{page}.png"
        image.save(path)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "demo")
    args = parser.parse_args()
    out_dir = args.data / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    report = args.data / "report.pdf"
    make_report_pdf(report)
    receipt = CORPUS / "receipts" / "img" / "000.jpg"
    clip = CORPUS / "video" / "real" / "nasa_13013.mp4"

    key = secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "SIGHTLINE_BOOTSTRAP_API_KEY": key,
        "SIGHTLINE_DATABASE_URL": f"sqlite:///{args.data / 'sightline.db'}",
        "SIGHTLINE_BLOB_DIR": str(args.data / "blobs"),
        "SIGHTLINE_BROKER_DIR": str(args.data / "broker"),
        "SIGHTLINE_API_PORT": str(args.port),
        "SIGHTLINE_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
    }
    print(f"starting the embedded service on 127.0.0.1:{args.port} (data in {args.data}) ...", flush=True)
    service = subprocess.Popen([sys.executable, "-m", "service"], cwd=ROOT, env=env)
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{args.port}", headers={"X-API-Key": key}, timeout=60
        ) as client:
            wait_ready(client, service)
            documents = {}
            for path in (report, receipt, clip):
                doc = upload(client, path)
                doc = wait_for(client, f"/v1/documents/{doc['id']}", lambda d: d["status"] != "processing")
                doc["local_path"] = str(path)
                documents[doc["id"]] = doc
                print(f"uploaded {path.name}: {doc['kind']}, status {doc['status']}")
            pdf_id, receipt_id, video_id = list(documents)
            jobs = [
                {"document_id": pdf_id, "task": "qa", "question": "When did revenue peak?"},
                {"document_id": pdf_id, "task": "ground", "question": "2023"},
                {"document_id": pdf_id, "task": "extract", "schema": {"properties": {"invoice_number": {}}}},
                {
                    "document_id": receipt_id,
                    "task": "extract",
                    "schema": {"properties": {"total": {}, "date": {}}},
                },
                {"document_id": video_id, "task": "describe"},
            ]
            batch = client.post("/v1/batches", json={"jobs": jobs}).raise_for_status().json()
            wait_for(client, f"/v1/batches/{batch['id']}", lambda b: b["status"] != "running")
            lines = client.get(f"/v1/batches/{batch['id']}/results").raise_for_status().text.splitlines()
            for line in lines:
                job = json.loads(line)
                result = job.get("result") or {}
                print(f"\n[{job['status']}] {job['task']} {job.get('question') or job.get('schema') or ''}")
                if job["status"] != "succeeded":
                    print(f"  error: {job.get('error')}")
                    continue
                print(
                    f"  answer: {result.get('answer')!r}  fields: {result.get('fields')}  model: {result.get('model')}"
                )
                for ev in result.get("evidence", [])[:5]:
                    if ev.get("page") is not None:
                        where = f"page {ev['page']}"
                    elif ev.get("time_s") is not None:
                        where = f"t={ev['time_s']:.2f}s"
                    else:
                        where = "image"
                    print(
                        f"  evidence: {where} bbox {ev['bbox']} norm {ev['bbox_norm']} {ev.get('text', '')!r}"
                    )
                for png in draw_evidence(client, job, documents, out_dir):
                    print(f"  drawn: {png}")
    finally:
        service.terminate()
        service.wait(30)


if __name__ == "__main__":
    main()
