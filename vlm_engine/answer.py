"""What the engine returns for a task: an answer and the evidence it was read from.

Plain dataclasses, JSON-ready through `to_dict()`; the workers store that dict, so the service never needs
to import this package. Evidence boxes are in the source's own unit (PDF points of the displayed page,
image pixels after EXIF orientation, decoded-frame pixels) with `bbox_norm` = bbox / source size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from vlm_engine.grounding import Box


@dataclass(frozen=True)
class Evidence:
    bbox: list[float]  # [x0, y0, x1, y1] in source units
    bbox_norm: list[float]  # the same divided by the source width/height, in [0, 1]
    page: int | None = None  # 0-based PDF page, or None
    time_s: float | None = None  # video presentation time, or None
    frame_index: int | None = None
    label: str = ""
    text: str = ""  # the words under the box, when known
    score: float | None = None

    @classmethod
    def from_box(
        cls,
        box: Box,
        source_width: float,
        source_height: float,
        *,
        page: int | None = None,
        time_s: float | None = None,
        frame_index: int | None = None,
        label: str = "",
        text: str = "",
        score: float | None = None,
    ) -> Evidence:
        """Evidence for `box` (source units), clipped to the source and normalised."""
        clipped = box.clip(source_width, source_height)
        return cls(
            bbox=clipped.as_list(),
            bbox_norm=clipped.normalized(source_width, source_height).as_list(4),
            page=page,
            time_s=time_s,
            frame_index=frame_index,
            label=label,
            text=text,
            score=score,
        )


@dataclass(frozen=True)
class Usage:
    visual_tokens: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    pages_viewed: int = 0
    frames_viewed: int = 0
    latency_ms: float = 0.0


@dataclass(frozen=True)
class TraceStep:
    tool: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    tokens: int = 0
    ms: float = 0.0


@dataclass(frozen=True)
class Answer:
    text: str
    evidence: list[Evidence] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    trace: list[TraceStep] = field(default_factory=list)
    model: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
