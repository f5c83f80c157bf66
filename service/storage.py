"""The blob store: uploaded files and rendered page images, by key, in a local directory.

Design choices:
- Keys are relative paths (`<tenant>/<document>/source`, `<tenant>/<document>/pages/<n>.png`); a key that
  could escape the root is refused. Everything of a document lives under one prefix, so deleting a document
  removes one directory.
- Writes go to a staging file in `<root>/.staging` first and are moved into place with an atomic rename
  (same filesystem), so a reader never sees half a file and an aborted upload leaves nothing behind.
- The workers read blobs by local path: the API and the workers share the directory (a docker volume).
  An object store would add a download-to-temp step in the workers; nothing else changes.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path, PurePosixPath

STAGING = ".staging"


class LocalBlobStore:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        (self.root / STAGING).mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if not parts or key.startswith("/") or any(p in ("..", ".", STAGING) for p in parts):
            raise ValueError(f"invalid blob key {key!r}")
        return self.root.joinpath(*parts)

    def staging_path(self) -> Path:
        """A fresh path in the staging area, for a file that `commit` will move into place."""
        return self.root / STAGING / secrets.token_hex(16)

    def commit(self, staged: Path, key: str) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)

    def put_file(self, source: Path, key: str) -> None:
        """Copy a file from anywhere (a worker's temp dir) into the store, atomically."""
        staged = self.staging_path()
        shutil.copyfile(source, staged)
        self.commit(staged, key)

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self.path(prefix), ignore_errors=True)


def document_prefix(tenant_id: str, document_id: str) -> str:
    return f"{tenant_id}/{document_id}"


def source_key(tenant_id: str, document_id: str) -> str:
    return f"{document_prefix(tenant_id, document_id)}/source"


def page_key(tenant_id: str, document_id: str, page: int) -> str:
    return f"{document_prefix(tenant_id, document_id)}/pages/{page}.png"
