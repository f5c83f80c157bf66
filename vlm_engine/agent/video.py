"""Video search: coarse uniform frames, a relevance verdict per frame, then dense frames where it changes.

Design choices:
- The answer to "when is X visible?" is an interval, and its edges are where relevance flips. A fixed
  frame budget is spent in two parts: `coarse_share` of it on uniform frames over the clip (or the
  window), the rest by bisection: each round samples the midpoints of the intervals between neighbouring
  frames whose verdicts differ (the clip's ends count as "not seen" beyond the first and last frames),
  all of them in one decode pass and one batched generate call. A search that has seen nothing yet spends
  its round on the midpoints of the widest gaps instead (a short event hides between coarse frames).
  `coarse_share=1` is plain uniform sampling: the benchmark's comparison at the same budget.
- A frame's relevance is the backend's yes/no to the presence question about the question's target
  ("Is there a red circle in the image?"); a question with no target phrase is asked as is.
- The interval is the run of relevant frames holding the most frames; each edge is placed halfway between
  the run's outer frame and its non-relevant neighbour, counting each frame on screen for one frame
  period (or at the clip's edge). Its relevant frames are
  grounded ("Where is the red circle?") in one batch, so the answer carries timestamps and boxes in
  decoded-frame pixels (`Frame.view` maps the downscaled frame back).
- Frames come from `media.video` (PyAV seeks by default); every round is a trace step with the times
  asked, the verdicts and the tokens; `step(done, budget)` reports progress and raises on cancel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vlm_engine.agent.questions import ask_presence, ask_where, presence_target, said_yes, when_target
from vlm_engine.agent.trace import Trace
from vlm_engine.answer import Answer, Evidence
from vlm_engine.backends.base import Backend, GenerationConfig, ImageInput, Prompt
from vlm_engine.media import video as video_media
from vlm_engine.media.limits import DEFAULT_LIMITS, MediaLimits
from vlm_engine.media.video import Frame

YES_NO = GenerationConfig(max_new_tokens=3)
ONE_BOX = GenerationConfig(max_new_tokens=24)
MAX_GROUNDED_FRAMES = 8


@dataclass(frozen=True)
class VideoSearchOptions:
    frame_budget: int = 16
    coarse_share: float = 0.5  # 1.0: uniform sampling only
    max_side: int = 448  # frames are decoded at most this large (the model sees less anyway)
    window: tuple[float, float] | None = None  # seconds, stream clock


DEFAULT_VIDEO_SEARCH = VideoSearchOptions()


@dataclass(frozen=True)
class Seen:
    frame: Frame
    relevant: bool


@dataclass(frozen=True)
class VideoResult:
    answer: Answer
    window: tuple[float, float] | None
    seen: list[Seen]  # every frame sampled, in time order
    tokens: int


def relevance_prompt(question: str) -> tuple[str, str | None]:
    """The per-frame yes/no prompt, and the target phrase it was built from (None: the question as is)."""
    phrase = when_target(question) or presence_target(question)
    if phrase is not None:
        return ask_presence(phrase), phrase
    return f"Question: {question}\nDoes this frame show what the question asks about? Reply yes or no.", None


def search_video(
    backend: Backend,
    path: str,
    question: str,
    trace: Trace,
    options: VideoSearchOptions = DEFAULT_VIDEO_SEARCH,
    limits: MediaLimits = DEFAULT_LIMITS,
    step: Callable[[int, int], None] | None = None,
) -> VideoResult:
    if options.frame_budget < 1 or not 0 < options.coarse_share <= 1:
        raise ValueError("the frame budget must be at least 1 and coarse_share in (0, 1]")
    info = video_media.probe(path, limits)
    clip_start = info.start_time_s
    clip_end = clip_start + info.duration_s
    if options.window is not None:
        clip_start, clip_end = max(clip_start, options.window[0]), min(clip_end, options.window[1])
    prompt, phrase = relevance_prompt(question)
    budget = options.frame_budget
    report = step or (lambda done, total: None)
    report(0, budget)
    seen: dict[int, Seen] = {}
    tokens = 0

    def look(frames: list[Frame], tool: str, asked: list[float] | None) -> None:
        nonlocal tokens
        fresh = [f for f in frames if f.index not in seen][: budget - len(seen)]
        with trace.step(tool, times=asked, frames=len(fresh), prompt=prompt) as record:
            said = backend.generate(
                [Prompt(prompt, images=(ImageInput(f.image, f.view),)) for f in fresh], YES_NO
            )
            for frame, generation in zip(fresh, said, strict=True):
                seen[frame.index] = Seen(frame, bool(said_yes(generation.text)))
            record.tokens = sum(g.prompt_tokens + g.completion_tokens + g.visual_tokens for g in said)
            record.outputs.update(
                times=[round(f.time_s, 2) for f in fresh], relevant=[seen[f.index].relevant for f in fresh]
            )
            tokens += record.tokens
        report(len(seen), budget)

    coarse = max(1, min(budget, round(budget * options.coarse_share)))
    look(
        video_media.sample_uniform(
            path, coarse, window=(clip_start, clip_end), max_side=options.max_side, limits=limits
        ),
        "sample_coarse",
        None,
    )
    frame_s = 1.0 / info.fps if info.fps > 0 else 0.0
    while len(seen) < budget:
        times = _next_times(_ordered(seen), clip_start, clip_end, budget - len(seen), frame_s)
        if not times:
            break
        before = len(seen)
        frames = video_media.sample_times(path, times, max_side=options.max_side, limits=limits)
        look(frames, "sample_fine", [round(t, 2) for t in times])
        if len(seen) == before:
            break
    ordered = _ordered(seen)
    window, run = _window(ordered, clip_start, clip_end, frame_s)
    evidence: list[Evidence] = []
    if run and phrase is not None:
        grounded = run[:: max(1, len(run) // MAX_GROUNDED_FRAMES)][:MAX_GROUNDED_FRAMES]
        with trace.step(
            "ground_frames", phrase=phrase, times=[round(s.frame.time_s, 2) for s in grounded]
        ) as g:
            found = backend.generate(
                [
                    Prompt(ask_where(phrase), images=(ImageInput(s.frame.image, s.frame.view),))
                    for s in grounded
                ],
                ONE_BOX,
            )
            for s, generation in zip(grounded, found, strict=True):
                for box in generation.boxes[:1]:
                    evidence.append(
                        Evidence.from_box(
                            box.box,
                            info.width,
                            info.height,
                            time_s=round(s.frame.time_s, 3),
                            frame_index=s.frame.index,
                            label=phrase,
                        )
                    )
            g.tokens = sum(x.prompt_tokens + x.completion_tokens + x.visual_tokens for x in found)
            g.outputs["boxes"] = len(evidence)
            tokens += g.tokens
    if window is None:
        text = (
            f"The {phrase} was not seen in the video."
            if phrase
            else "Nothing relevant was seen in the video."
        )
        fields = {"start_s": None, "end_s": None}
    else:
        text = f"from {window[0]:.2f}s to {window[1]:.2f}s"
        fields = {"start_s": round(window[0], 3), "end_s": round(window[1], 3)}
    fields["frames_sampled"] = len(ordered)
    return VideoResult(Answer(text, evidence=evidence, fields=fields), window, ordered, tokens)


def _ordered(seen: dict[int, Seen]) -> list[Seen]:
    return sorted(seen.values(), key=lambda s: s.frame.time_s)


def _next_times(ordered: list[Seen], start: float, end: float, room: int, min_gap: float) -> list[float]:
    """Midpoints of the intervals where relevance flips (the clip's ends count as not relevant); with no
    relevant frame yet, midpoints of the widest gaps. Intervals of two frames (`min_gap` each) or less are done."""
    times = [s.frame.time_s for s in ordered]
    edges = [start, *times, end]
    flags = [False, *(s.relevant for s in ordered), False]
    pairs = range(len(edges) - 1)
    if any(flags):
        spans = [(edges[i], edges[i + 1]) for i in pairs if flags[i] != flags[i + 1]]
    else:
        spans = [(edges[i], edges[i + 1]) for i in pairs]
    spans = sorted((s for s in spans if s[1] - s[0] > 2 * min_gap), key=lambda s: s[0] - s[1])  # widest first
    return sorted((a + b) / 2 for a, b in spans[:room])


def _window(
    ordered: list[Seen], start: float, end: float, frame_s: float
) -> tuple[tuple[float, float] | None, list[Seen]]:
    """The run of relevant frames with the most frames, and its interval: each edge halfway between the
    run's outer frame and the neighbour outside it (a frame is on screen for `frame_s` from its time)."""
    runs: list[list[int]] = []
    for i, s in enumerate(ordered):
        if s.relevant:
            if runs and runs[-1][-1] == i - 1:
                runs[-1].append(i)
            else:
                runs.append([i])
    if not runs:
        return None, []
    best = max(runs, key=len)
    first, last = best[0], best[-1]
    times = [s.frame.time_s for s in ordered]
    lo = start if first == 0 else (times[first - 1] + frame_s + times[first]) / 2
    hi = end if last == len(ordered) - 1 else (times[last] + frame_s + times[last + 1]) / 2
    return (lo, hi), [ordered[i] for i in best]
