"""The openai backend against a real HTTP server on loopback that speaks the chat-completions protocol."""

from __future__ import annotations

import json
import socket
import time

import numpy as np
import pytest

from tests.backends.openai_test_server import COMPLETION_TOKENS, PROMPT_TOKENS, OpenAITestServer
from vlm_engine.backends.base import GenerationConfig, ImageInput, Prompt
from vlm_engine.backends.chat import BOX_INSTRUCTIONS
from vlm_engine.backends.openai_backend import RemoteBackendError
from vlm_engine.backends.registry import load_backend
from vlm_engine.grounding import Box, BoxDialect, View

FAST_RETRY = {"backoff_s": 0.01, "max_backoff_s": 0.05}


def page_tile() -> ImageInput:
    """A 90x60 pixel view of the region (100, 50)-(400, 250) of a page, in points."""
    pixels = np.random.default_rng(0).integers(0, 256, (60, 90, 3), dtype=np.uint8)
    return ImageInput(pixels, View.of_region(Box(100, 50, 400, 250), 90, 60))


def backend(server: OpenAITestServer, **options):
    return load_backend("openai", "test-model", base_url=server.base_url, **{**FAST_RETRY, **options})


def test_answer_usage_and_boxes_in_source_units(openai_server):
    (generation,) = backend(openai_server).generate([Prompt("Where is the title?", (page_tile(),))])
    assert generation.text == "The title. <box>100,200,300,400</box>"
    assert [b.box.as_list() for b in generation.boxes] == [[130.0, 90.0, 190.0, 130.0]]
    assert (generation.prompt_tokens, generation.completion_tokens) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    assert generation.finish_reason == "stop"
    (body,) = openai_server.requests
    assert body["model"] == "test-model"
    system, user = body["messages"]
    assert system["content"][0]["text"] == BOX_INSTRUCTIONS[BoxDialect.GENERIC]
    assert [part["type"] for part in user["content"]] == ["image_url", "text"]
    assert user["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")


def test_generation_settings_are_sent(openai_server):
    config = GenerationConfig(max_new_tokens=17, temperature=0.7, top_p=0.9, stop=("\n\n",), seed=3)
    backend(openai_server, image_format="jpeg").generate(
        [Prompt("Hi", (page_tile(),), system="Be brief.")], config
    )
    (body,) = openai_server.requests
    assert {k: body[k] for k in ("max_tokens", "temperature", "top_p", "stop", "seed")} == {
        "max_tokens": 17,
        "temperature": 0.7,
        "top_p": 0.9,
        "stop": ["\n\n"],
        "seed": 3,
    }
    assert body["messages"][0]["content"][0]["text"].startswith("Be brief.\n\n")
    assert body["messages"][1]["content"][0]["image_url"]["url"].startswith("data:image/jpeg;base64,")


def test_box_dialect_is_configurable():
    reply = json.dumps([{"bbox_2d": [9, 6, 45, 30], "label": "title"}])
    with OpenAITestServer(reply=reply) as server:
        (generation,) = backend(server, box_dialect="qwen2_5_vl").generate(
            [Prompt("Find it.", (page_tile(),))]
        )
    assert [(b.box.as_list(), b.label) for b in generation.boxes] == [([130.0, 70.0, 250.0, 150.0], "title")]
    assert server.requests[0]["messages"][0]["role"] == "user"  # a native dialect needs no instruction


@pytest.mark.parametrize("status", [503, 429, 500])
def test_transient_failures_are_retried(status):
    with OpenAITestServer(fail_first=2, fail_status=status) as server:
        (generation,) = backend(server, max_retries=3).generate([Prompt("Hi", (page_tile(),))])
    assert generation.boxes and server.attempts == 3


def test_retries_run_out():
    with (
        OpenAITestServer(fail_first=10) as server,
        pytest.raises(RemoteBackendError, match="3 attempts: HTTP 503"),
    ):
        backend(server, max_retries=2).generate([Prompt("Hi", (page_tile(),))])
    assert server.attempts == 3


def test_a_bad_request_is_not_retried(openai_server):
    with pytest.raises(RemoteBackendError, match=r"HTTP 400.*no image"):
        backend(openai_server).generate([Prompt("No image at all")])
    assert openai_server.attempts == 1 and openai_server.rejected == ["no image"]


def test_a_slow_server_times_out():
    with OpenAITestServer(delay_s=2.0) as server:
        started = time.perf_counter()
        with pytest.raises(RemoteBackendError, match="2 attempts: ReadTimeout"):
            backend(server, timeout_s=0.2, max_retries=1).generate([Prompt("Hi", (page_tile(),))])
        assert time.perf_counter() - started < 1.5
        assert server.attempts == 2


def test_connection_errors_are_retried_then_reported():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = load_backend("openai", "m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, **FAST_RETRY)
    with pytest.raises(RemoteBackendError, match="3 attempts: ConnectError"):
        dead.generate([Prompt("Hi", (page_tile(),))])


def test_a_batch_goes_out_concurrently_up_to_the_limit():
    def echo(body: dict) -> str:
        return body["messages"][-1]["content"][-1]["text"]

    prompts = [Prompt(f"prompt {i}", (page_tile(),)) for i in range(8)]
    with OpenAITestServer(reply=echo, delay_s=0.25) as server:
        started = time.perf_counter()
        out = backend(server, max_concurrency=3).generate(prompts)
        elapsed = time.perf_counter() - started
    assert [g.text for g in out] == [p.text for p in prompts]  # answers come back in prompt order
    assert server.max_in_flight == 3
    assert elapsed < 8 * 0.25  # concurrent, not one after another
