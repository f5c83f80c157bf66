"""`load_backend(kind, model, **options)`: the one way the engine, the workers and the CLI get a backend.

Design choices:
- Each kind's module is imported only when asked for: the openai backend needs neither torch nor
  transformers, and the native backend may live in a build without the hf extras.
- Options go to the backend's own constructor unchanged, so each backend documents its own (hf: `device`,
  `max_batch_size`; openai: `base_url`, `api_key`, `box_dialect`, `timeout_s`, `max_retries`,
  `max_concurrency`, ...; native: whatever `NativeBackend.from_pretrained` takes).
- Models load once per process: the hf loader caches by checkpoint and device (the native backend's
  `from_pretrained` is expected to do the same).
"""

from __future__ import annotations

from typing import Any, Literal

from vlm_engine.backends.base import Backend

BackendKind = Literal["native", "hf", "openai"]
BACKEND_KINDS: tuple[str, ...] = ("native", "hf", "openai")


def load_backend(kind: BackendKind, model: str, **options: Any) -> Backend:
    """A backend of `kind` for `model` (a checkpoint directory, a hub id, or a served model's name)."""
    if kind == "native":
        from vlm_engine.backends.native import NativeBackend

        return NativeBackend.from_pretrained(model, **options)
    if kind == "hf":
        from vlm_engine.backends.hf.backend import HFBackend

        return HFBackend.from_pretrained(model, **options)
    if kind == "openai":
        from vlm_engine.backends.openai_backend import OpenAIBackend

        return OpenAIBackend(model, **options)
    raise ValueError(f"unknown backend kind {kind!r}; known: {', '.join(BACKEND_KINDS)}")
