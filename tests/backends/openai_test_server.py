"""A TEST server for the OpenAI chat-completions protocol: loopback only, scripted replies, no model.

It stands in for vLLM / SGLang (and, later, the service's own endpoint) in the openai backend's tests:
- `POST /v1/chat/completions` checks the request shape (model, messages, a user turn with at least one image
  sent as a PNG or JPEG data URL that decodes) and answers `reply` with a `usage` block; a bad request gets 400
  and is recorded in `rejected`.
- `fail_first=N` answers the first N requests with `fail_status` (503 by default) to exercise retries;
  `delay_s` holds every answer back to exercise timeouts and concurrency; `max_in_flight` is the most
  requests it was ever handling at once.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

DATA_URL = re.compile(r"data:image/(png|jpeg);base64,(.+)", re.S)
PROMPT_TOKENS = 42
COMPLETION_TOKENS = 7


def request_problem(body: object) -> str | None:
    """Why `body` is not a chat-completions request with an inline image, or None when it is one."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return "no model"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "no messages"
    user = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    if not user or not isinstance(user[-1].get("content"), list):
        return "no user turn with a content list"
    images = [part for part in user[-1]["content"] if part.get("type") == "image_url"]
    if not images:
        return "no image"
    for part in images:
        match = DATA_URL.fullmatch(part.get("image_url", {}).get("url", ""))
        if match is None:
            return "an image is not a PNG or JPEG data URL"
        try:
            Image.open(io.BytesIO(base64.b64decode(match.group(2), validate=True))).verify()
        except Exception as exc:
            return f"an image does not decode: {exc}"
    if not isinstance(body.get("max_tokens", 1), int):
        return "max_tokens is not an integer"
    return None


class OpenAITestServer:
    def __init__(
        self,
        reply: str | Callable[[dict], str] = "The title. <box>100,200,300,400</box>",
        fail_first: int = 0,
        fail_status: int = 503,
        delay_s: float = 0.0,
    ):
        self.reply = reply
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.delay_s = delay_s
        self.attempts = 0  # requests received, counted on arrival
        self.requests: list[dict] = []  # accepted bodies
        self.rejected: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> OpenAITestServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _answer(self, body: object, attempt: int) -> tuple[int, dict]:
        if attempt <= self.fail_first:
            return self.fail_status, {"error": {"message": "scripted failure", "type": "server_error"}}
        problem = request_problem(body)
        if problem is not None:
            with self._lock:
                self.rejected.append(problem)
            return 400, {"error": {"message": problem, "type": "invalid_request_error"}}
        with self._lock:
            self.requests.append(body)
        text = self.reply(body) if callable(self.reply) else self.reply
        return 200, {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": PROMPT_TOKENS,
                "completion_tokens": COMPLETION_TOKENS,
                "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
            },
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                with server._lock:
                    server.attempts += 1
                    attempt = server.attempts
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                    if self.path != "/v1/chat/completions":
                        status, payload = 404, {"error": {"message": f"no route {self.path}"}}
                    else:
                        try:
                            body = json.loads(raw)
                        except ValueError:
                            body = None
                        time.sleep(server.delay_s)
                        status, payload = server._answer(body, attempt)
                    data = json.dumps(payload).encode()
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
                pass

        return Handler
