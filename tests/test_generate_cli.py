"""`python -m vlm_engine.generate` on real corpus files, with the openai backend pointed at the test server:
boxes come back in displayed-page points for a PDF page and in pixels for an image; bad input is a typed
error with exit 2, never a traceback."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys

import pymupdf
import pytest
import transformers
from PIL import Image

from tests.backends.openai_test_server import OpenAITestServer
from tests.conftest import REPO_ROOT
from vlm_engine import generate

REPLY = "The heading. <box>100,200,300,400</box>"
PDF = "pdf/real/pdflatex-4-pages.pdf"


def _run(*args: str) -> tuple[int, dict, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "vlm_engine.generate", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def _main(capsys, *args: str) -> tuple[int, dict]:
    """The command in this process (the file is still parsed in the sandbox child)."""
    code = generate.main(list(args))
    return code, json.loads(capsys.readouterr().out)


def _sent_image_size(server: OpenAITestServer) -> tuple[int, int]:
    url = server.requests[0]["messages"][-1]["content"][0]["image_url"]["url"]
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size


@pytest.mark.parametrize("rotation", [0, 90])
def test_pdf_page_boxes_come_back_in_displayed_page_points(corpus_dir, tmp_path, rotation):
    path = corpus_dir / PDF
    if rotation:  # the same real file, its page turned by /Rotate: points are those of the page as displayed
        document = pymupdf.open(path)
        document[1].set_rotation(rotation)
        path = tmp_path / "rotated.pdf"
        document.save(path)
    width, height = (841.89, 595.28) if rotation else (595.28, 841.89)
    with OpenAITestServer(reply=REPLY) as server:
        code, out, stderr = _run(
            *("--backend", "openai", "--base-url", server.base_url, "--model", "served-vlm"),
            *("--image", str(path), "--page", "1", "--dpi", "100", "--prompt", "Where is the heading?"),
        )
    assert code == 0, stderr
    assert out["source"] == {"kind": "pdf", "page": 1, "unit": "pt", "width": width, "height": height}
    assert out["text"] == REPLY and out["model"] == "served-vlm"
    (box,) = out["boxes"]
    assert box["box"] == pytest.approx([0.1 * width, 0.2 * height, 0.3 * width, 0.4 * height], abs=0.01)
    assert box["bbox_norm"] == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert _sent_image_size(server) == (round(width * 100 / 72), round(height * 100 / 72))


def test_image_boxes_come_back_in_pixels(corpus_dir, capsys):
    path = corpus_dir / "receipts/img/000.jpg"
    with Image.open(path) as image:
        width, height = image.size  # these receipts carry no EXIF rotation
    with OpenAITestServer(reply=REPLY) as server:
        code, out = _main(
            capsys,
            *("--backend", "openai", "--base-url", server.base_url, "--model", "served-vlm"),
            *("--image", str(path), "--prompt", "Where is the total?", "--max-new-tokens", "32"),
        )
    assert code == 0
    assert out["source"] == {"kind": "image", "page": None, "unit": "px", "width": width, "height": height}
    assert out["boxes"][0]["box"] == pytest.approx([0.1 * width, 0.2 * height, 0.3 * width, 0.4 * height])
    assert server.requests[0]["max_tokens"] == 32


@pytest.mark.parametrize(
    ("relpath", "extra", "error"),
    [
        (PDF, ("--page", "9"), "out_of_range"),
        ("receipts/img/000.jpg", ("--page", "2"), "out_of_range"),
        ("pdf/malformed/bad1.pdf", (), "unsupported_type"),
        ("pdf/real/libreoffice-writer-password.pdf", (), "encrypted"),
        ("no/such/file.pdf", (), "bad_document"),
    ],
)
def test_bad_input_is_a_typed_error(corpus_dir, capsys, relpath, extra, error):
    code, out = _main(
        capsys,
        *("--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--prompt", "?"),
        *("--image", str(corpus_dir / relpath), *extra),
    )
    assert (code, out["error"]) == (2, error)


def test_an_unsupported_model_is_a_typed_error(corpus_dir, tmp_path, capsys):
    transformers.GPT2Config(n_layer=1, n_embd=8, n_head=2).save_pretrained(tmp_path)
    code, out = _main(
        capsys,
        *("--backend", "hf", "--model", str(tmp_path), "--device", "cpu", "--prompt", "?"),
        *("--image", str(corpus_dir / "receipts/img/000.jpg")),
    )
    assert (code, out["error"]) == (2, "unsupported_model") and "gpt2" in out["detail"]
