"""Run untrusted parsing in a child process that cannot take the caller down.

Design choices:
- One child per call, from a `forkserver` context: cheap to start (the server preloads the media modules
  once), and safe to use from a process that already runs threads (torch, onnxruntime, Celery).
- The child sets its own address-space limit (RLIMIT_AS) before it touches the input, so a decompression
  bomb ends in a MemoryError or a kill inside the child, never in the parent.
- The parent waits up to `timeout_s`, then kills the child: a parser that hangs inside C code is stopped.
- Results and `MediaError`s cross the boundary pickled; a child that dies (signal, OOM) or times out becomes
  `MediaError(parser_crashed | timeout)`. Anything else the child raises is re-raised as a RuntimeError
  carrying the child's traceback text, since it is a bug rather than bad input.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import resource
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from vlm_engine.errors import ErrorCode, MediaError

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_MEMORY_BYTES = 4 * 1024**3
_PRELOAD = ["vlm_engine.media.pdf", "vlm_engine.media.image", "vlm_engine.media.video"]
_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(_PRELOAD)


def _child(conn: multiprocessing.connection.Connection, memory_bytes: int, fn: Callable, args: tuple) -> None:
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        result: tuple[str, Any] = ("ok", fn(*args))
    except MediaError as exc:
        result = ("media_error", exc)
    except MemoryError:
        result = ("media_error", MediaError(ErrorCode.TOO_LARGE, "parsing ran out of its memory limit"))
    except BaseException:
        result = ("bug", traceback.format_exc())
    try:
        conn.send(result)
    except Exception:  # an unpicklable result is a bug in the caller's function
        conn.send(("bug", traceback.format_exc()))
    finally:
        conn.close()


def run_isolated(
    fn: Callable[..., T], *args: Any, timeout_s: float = 60.0, memory_bytes: int = DEFAULT_MEMORY_BYTES
) -> T:
    """Call `fn(*args)` in a child process with a time and memory limit; return its result.

    `fn` must be a module-level function and its arguments and result picklable.
    """
    parent_end, child_end = _context.Pipe(duplex=False)
    process = _context.Process(target=_child, args=(child_end, memory_bytes, fn, args), daemon=True)
    process.start()
    child_end.close()
    try:
        if not parent_end.poll(timeout_s):
            raise MediaError(ErrorCode.TIMEOUT, f"parsing ran past its time limit of {timeout_s:g} s")
        try:
            status, payload = parent_end.recv()
        except EOFError:
            process.join(5)
            raise MediaError(
                ErrorCode.PARSER_CRASHED, f"the parser process died (exit code {process.exitcode})"
            ) from None
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        parent_end.close()
    if status == "ok":
        return payload
    if status == "media_error":
        raise payload
    raise RuntimeError(f"isolated call {getattr(fn, '__name__', fn)} failed:\n{payload}")
