"""The import rules of DESIGN.md section 2, checked on the source with `ast` (no imports run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "vlm_engine": {"service", "workers", "fastapi", "sqlalchemy", "celery", "alembic"},
    "service": {"torch", "transformers", "vlm_engine", "workers"},
    "workers": {"fastapi", "uvicorn"},
    "sightline_common": {"vlm_engine", "service", "workers", "torch", "numpy", "PIL", "transformers"},
}


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_respect_the_layering(package):
    files = sorted((ROOT / package).rglob("*.py"))
    if package in ("vlm_engine", "sightline_common"):
        assert files, f"{package} has no modules"
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_roots(path) & FORBIDDEN[package]) for path in files
    }
    assert {k: v for k, v in offenders.items() if v} == {}
