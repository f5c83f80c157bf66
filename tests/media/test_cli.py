"""`python -m vlm_engine.media`: one JSON object per file, typed errors with exit 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


def _run(*args: str) -> tuple[int, dict, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "vlm_engine.media", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def test_pdf_summary(corpus_dir):
    code, out, _ = _run(str(corpus_dir / "pdf/real/pdflatex-4-pages.pdf"))
    assert code == 0
    assert out["kind"] == "pdf" and out["pages"] == 4 and out["text_words"] > 2000
    assert out["page_sizes"][0]["width"] == pytest.approx(595.28, abs=0.01)


def test_image_only_pages_are_reported(corpus_dir):
    code, out, _ = _run(str(corpus_dir / "pdf/real/imagemagick-images.pdf"))
    assert code == 0 and out["image_only_pages"] == list(range(out["pages"]))


def test_encrypted_pdf_then_with_password(corpus_dir):
    path = str(corpus_dir / "pdf/real/libreoffice-writer-password.pdf")
    code, out, stderr = _run(path)
    assert (code, out["error"]) == (2, "encrypted") and "Traceback" not in stderr
    code, out, _ = _run(path, "--password", "openpassword")
    assert code == 0 and out["pages"] == 1


@pytest.mark.parametrize(
    ("relpath", "error"),
    [("pdf/malformed/bad1.pdf", "unsupported_type"), ("pdf/malformed/issue-1688a.pdf", "bad_document")],
)
def test_bad_files(corpus_dir, relpath, error):
    code, out, stderr = _run(str(corpus_dir / relpath))
    assert (code, out["error"]) == (2, error) and out["detail"] and "Traceback" not in stderr


def test_video_with_frames(corpus_dir):
    code, out, _ = _run(str(corpus_dir / "video/codecs/nasa_13013_rotated.mp4"), "--frames", "4")
    assert code == 0 and out["kind"] == "video"
    assert (out["width"], out["height"]) == (270, 480)  # upright: portrait
    times = out["sampled_times_s"]
    assert len(times) == 4 and times == sorted(set(times))


def test_image(corpus_dir):
    code, out, _ = _run(str(corpus_dir / "receipts/img/001.jpg"))
    assert code == 0 and out["mime"] == "image/jpeg" and out["width"] > 0


def test_missing_file_is_a_typed_error(tmp_path):
    code, out, stderr = _run(str(tmp_path / "nope.pdf"))
    assert code == 2 and out["error"] == "bad_document" and "Traceback" not in stderr
