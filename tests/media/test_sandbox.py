"""The sandbox turns hangs, crashes and memory bombs in a parser into typed errors; the caller lives on."""

from __future__ import annotations

import os
import signal
import time

import pytest

from vlm_engine.errors import ErrorCode, MediaError
from vlm_engine.media.sandbox import run_isolated


def _add(a: int, b: int) -> int:
    return a + b


def _hang() -> None:
    time.sleep(60)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def _hog() -> bytes:
    return b"x" * (2 * 1024**3)


def _bad_input() -> None:
    raise MediaError(ErrorCode.BAD_DOCUMENT, "broken on purpose")


def _bug() -> None:
    raise KeyError("a bug, not bad input")


def test_result_comes_back():
    assert run_isolated(_add, 2, 3, timeout_s=30) == 5


def test_hang_is_a_timeout_and_the_child_is_killed():
    started = time.monotonic()
    with pytest.raises(MediaError) as err:
        run_isolated(_hang, timeout_s=1.5)
    assert err.value.code is ErrorCode.TIMEOUT
    assert time.monotonic() - started < 15


def test_crash_is_parser_crashed():
    with pytest.raises(MediaError) as err:
        run_isolated(_die, timeout_s=30)
    assert err.value.code is ErrorCode.PARSER_CRASHED


def test_memory_limit_is_too_large():
    with pytest.raises(MediaError) as err:
        run_isolated(_hog, timeout_s=30, memory_bytes=1024**3)
    assert err.value.code in (ErrorCode.TOO_LARGE, ErrorCode.PARSER_CRASHED)


def test_media_errors_cross_the_boundary_and_bugs_stay_bugs():
    with pytest.raises(MediaError) as err:
        run_isolated(_bad_input, timeout_s=30)
    assert (err.value.code, err.value.detail) == (ErrorCode.BAD_DOCUMENT, "broken on purpose")
    with pytest.raises(RuntimeError, match="KeyError"):
        run_isolated(_bug, timeout_s=30)
    assert run_isolated(_add, 1, 1, timeout_s=30) == 2  # and the caller goes on
