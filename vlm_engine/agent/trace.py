"""The agent's trace: every tool call recorded as a `TraceStep` (tool, inputs, outputs, tokens, ms).

Design choices:
- One `Trace` per task. `with trace.step("route", question=q) as step:` times the block and records it
  even when it raises (the step's outputs then say `error`); the tool fills `step.outputs` and
  `step.tokens` as it goes.
- Outputs are summarised, never dumped: strings are cut to `MAX_TEXT` characters, sequences longer than
  `MAX_ITEMS` become their length and first items, so a trace stays small enough to store with the answer
  whatever the document says.
- The records are `vlm_engine.answer.TraceStep`, the type the service already stores.
- `Metered` wraps a backend and adds up the tokens of everything it generates: the answer's usage.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from vlm_engine.answer import TraceStep
from vlm_engine.backends.base import Backend, Generation, GenerationConfig, Prompt

MAX_TEXT = 200
MAX_ITEMS = 8
MAX_DEPTH = 4
DEFAULT_CONFIG = GenerationConfig()


def summarize(value: Any, depth: int = 0) -> Any:
    """A JSON-ready, size-capped picture of `value` for the trace."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + f"... ({len(value)} chars)"
    if depth >= MAX_DEPTH:
        return f"<{type(value).__name__}>"
    if isinstance(value, dict):
        items = list(value.items())
        out = {str(k): summarize(v, depth + 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            out["..."] = f"{len(items) - MAX_ITEMS} more keys"
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        head = [summarize(v, depth + 1) for v in items[:MAX_ITEMS]]
        return head if len(items) <= MAX_ITEMS else {"count": len(items), "first": head}
    return summarize(str(value), depth + 1)


@dataclass
class OpenStep:
    """A step being recorded: the tool writes its outputs and token count here."""

    outputs: dict[str, Any] = field(default_factory=dict)
    tokens: int = 0


class Trace:
    def __init__(self) -> None:
        self.steps: list[TraceStep] = []

    @contextmanager
    def step(self, tool: str, **inputs: Any) -> Iterator[OpenStep]:
        record = OpenStep()
        started = time.perf_counter()
        try:
            yield record
        except Exception as exc:
            record.outputs["error"] = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.steps.append(
                TraceStep(
                    tool,
                    summarize(inputs),
                    summarize(record.outputs),
                    tokens=record.tokens,
                    ms=round((time.perf_counter() - started) * 1e3, 1),
                )
            )

    @property
    def tokens(self) -> int:
        return sum(s.tokens for s in self.steps)


class Metered:
    """`backend`, counting the visual, prompt and completion tokens of every generation it returns."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.name = backend.name
        self.box_dialect = backend.box_dialect
        self.visual_tokens = self.prompt_tokens = self.completion_tokens = 0

    def generate(
        self, prompts: Sequence[Prompt], config: GenerationConfig = DEFAULT_CONFIG
    ) -> list[Generation]:
        generations = self.backend.generate(prompts, config)
        for g in generations:
            self.visual_tokens += g.visual_tokens
            self.prompt_tokens += g.prompt_tokens
            self.completion_tokens += g.completion_tokens
        return generations
