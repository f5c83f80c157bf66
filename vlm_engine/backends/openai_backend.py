"""`OpenAIBackend`: generation on a remote OpenAI-compatible chat server (vLLM, SGLang, the service's own).

Design choices:
- One POST /chat/completions per prompt. A batch goes out concurrently, at most `max_concurrency` requests in
  flight, over one pooled httpx client: the server does the real batching.
- Images travel inline as data URLs, PNG by default (lossless: text on pages stays sharp) or JPEG (smaller,
  for photos and frames).
- Every request has a timeout. 408, 429, 5xx, connection errors and timeouts are retried with exponential backoff
  (a server's Retry-After is honoured, within the backoff cap); any other 4xx fails at once, since sending
  the same request again cannot help. Failures raise `RemoteBackendError`.
- Token usage comes from the response's `usage`; servers do not report visual tokens, so those stay 0.
- Boxes are parsed in `box_dialect` (default GENERIC, taught in the prompt by `chat`) in pixels of the image as
  sent, then mapped to the source through its view. A dialect in absolute pixels of the model's resized input
  (QWEN2_5_VL) is right only when images are sent at the model's native size (`vision.tiling.plan_native`),
  so that the server's own resize changes nothing.
"""

from __future__ import annotations

import base64
import io
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
from PIL import Image

from vlm_engine.backends.base import Generation, GenerationConfig, ImageInput, Prompt, SourceBox
from vlm_engine.backends.chat import box_instruction, chat_messages
from vlm_engine.grounding import BoxDialect, parse_boxes

log = logging.getLogger(__name__)

DEFAULT_CONFIG = GenerationConfig()

RETRY_STATUS = frozenset({408, 429}) | frozenset(range(500, 600))
IMAGE_FORMATS = {"png": "PNG", "jpeg": "JPEG"}


class RemoteBackendError(RuntimeError):
    """The server refused a request, or kept failing after every retry."""


def data_url(pixels: np.ndarray, image_format: str = "png", jpeg_quality: int = 90) -> str:
    """An RGB image as a `data:image/...;base64,` URL."""
    buffer = io.BytesIO()
    options = {"quality": jpeg_quality} if image_format == "jpeg" else {}
    Image.fromarray(pixels).save(buffer, format=IMAGE_FORMATS[image_format], **options)
    return f"data:image/{image_format};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


class OpenAIBackend:
    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        api_key: str | None = None,
        box_dialect: BoxDialect | str = BoxDialect.GENERIC,
        timeout_s: float = 120.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        max_concurrency: int = 8,
        image_format: str = "png",
        jpeg_quality: int = 90,
    ):
        if image_format not in IMAGE_FORMATS:
            raise ValueError(f"image_format must be one of {sorted(IMAGE_FORMATS)}, got {image_format!r}")
        if max_concurrency < 1 or max_retries < 0:
            raise ValueError("max_concurrency must be at least 1 and max_retries at least 0")
        self.name = model
        self.box_dialect = BoxDialect(box_dialect)
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_concurrency = max_concurrency
        self.image_format = image_format
        self.jpeg_quality = jpeg_quality
        self._instruction = box_instruction(self.box_dialect)
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout_s,
            headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency),
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def generate(
        self, prompts: Sequence[Prompt], config: GenerationConfig = DEFAULT_CONFIG
    ) -> list[Generation]:
        if not prompts:
            return []
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(prompts))) as pool:
            return list(pool.map(lambda prompt: self._generate_one(prompt, config), prompts))

    def request_body(self, prompt: Prompt, config: GenerationConfig) -> dict:
        """The JSON body of the chat-completions request for one prompt."""
        body = {
            "model": self.name,
            "messages": chat_messages(prompt, self._image_part, self._instruction),
            "max_tokens": config.max_new_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
        }
        if config.stop:
            body["stop"] = list(config.stop)
        if config.seed is not None:
            body["seed"] = config.seed
        return body

    def _image_part(self, image: ImageInput) -> dict:
        url = data_url(image.pixels, self.image_format, self.jpeg_quality)
        return {"type": "image_url", "image_url": {"url": url}}

    def _generate_one(self, prompt: Prompt, config: GenerationConfig) -> Generation:
        started = time.perf_counter()
        response = self._post(self.request_body(prompt, config))
        try:
            choice = response["choices"][0]
            text = choice["message"].get("content") or ""
            usage = response.get("usage") or {}
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise RemoteBackendError(f"malformed chat completion: {exc!r}") from None
        return Generation(
            text=text,
            boxes=self._source_boxes(text, prompt),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
            latency_ms=(time.perf_counter() - started) * 1000,
            extra={"server_model": response.get("model", "")},
        )

    def _source_boxes(self, text: str, prompt: Prompt) -> tuple[SourceBox, ...]:
        if not prompt.images:
            return ()
        view = prompt.images[prompt.ground_on].view
        return tuple(
            SourceBox(view.box_to_source(g.box), g.label)
            for g in parse_boxes(text, self.box_dialect, view.width, view.height)
        )

    def _post(self, body: dict) -> dict:
        failure = ""
        for attempt in range(self.max_retries + 1):
            retry_after = None
            try:
                response = self._client.post("/chat/completions", json=body)
            except httpx.TransportError as exc:  # refused, reset, timed out
                failure = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    try:
                        return response.json()
                    except ValueError:
                        raise RemoteBackendError("the server answered with invalid JSON") from None
                failure = f"HTTP {response.status_code}: {response.text[:300]}"
                if response.status_code not in RETRY_STATUS:
                    raise RemoteBackendError(failure)
                retry_after = _seconds(response.headers.get("retry-after"))
            if attempt < self.max_retries:
                delay = min(self.max_backoff_s, max(self.backoff_s * 2**attempt, retry_after or 0.0))
                log.warning("request failed (%s); retry %d in %.2f s", failure, attempt + 1, delay)
                time.sleep(delay)
        raise RemoteBackendError(f"gave up after {self.max_retries + 1} attempts: {failure}")


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date: fall back to our own backoff
        return None
