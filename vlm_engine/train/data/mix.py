"""The task mix: draw N samples of a split from a seed, with a curriculum on scene crowding.

Design choices:
- `generate_samples(n, seed, split, mix)` is a pure function: the same arguments give the same samples.
  Training uses seeds from 0 up; the held-out split also switches the `Style` (unseen shades, textures,
  fonts), so evaluation never meets a training picture.
- A mix is a table of weights over named task makers; a maker draws its own picture (a scene with 1 to
  `max_objects` shapes, a chart, a page, a video) and returns None when that picture cannot support it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from enum import StrEnum

from vlm_engine.train.data import tasks
from vlm_engine.train.data.charts import chart
from vlm_engine.train.data.documents import document
from vlm_engine.train.data.scenes import scene
from vlm_engine.train.data.things import Sample, Style
from vlm_engine.train.data.videos import video

MAX_OBJECTS = 12


class Split(StrEnum):
    TRAIN = "train"
    HELD_OUT = "held_out"


Maker = Callable[[random.Random, Style, int, int], Sample | None]


def _scene_task(build: Callable[[random.Random, object], Sample | None], least: int = 1) -> Maker:
    def make(rng: random.Random, style: Style, size: int, max_objects: int) -> Sample | None:
        crowd = rng.randint(least, max(least, max_objects))
        return build(rng, scene(rng, style, size, crowd))

    return make


def _count(rng: random.Random, style: Style, size: int, max_objects: int) -> Sample | None:
    crowd = rng.randint(0, max_objects)
    return tasks.count(rng, scene(rng, style, size, crowd))


def _chart_value(rng: random.Random, style: Style, size: int, max_objects: int) -> Sample | None:
    return tasks.chart_value(rng, chart(rng, style, size, rng.choice(("bar", "pie", "line"))))


def _chart_count(rng: random.Random, style: Style, size: int, max_objects: int) -> Sample | None:
    return tasks.count(rng, chart(rng, style, size, "scatter"))


def _chart_ground(rng: random.Random, style: Style, size: int, max_objects: int) -> Sample | None:
    return tasks.ground(rng, chart(rng, style, size, "bar"))


def _document(build: Callable[[random.Random, object], Sample | None]) -> Maker:
    def make(rng: random.Random, style: Style, size: int, max_objects: int) -> Sample | None:
        return build(rng, document(rng, style, size))

    return make


def _caption(rng: random.Random, style: Style, size: int, max_objects: int) -> Sample | None:
    roll = rng.random()
    if roll < 0.7:
        picture = scene(rng, style, size, rng.randint(0, min(6, max_objects)))
    elif roll < 0.9:
        picture = chart(rng, style, size)
    else:
        picture = document(rng, style, size)
    return tasks.caption(rng, picture)


def _temporal(rng: random.Random, style: Style, size: int, max_objects: int) -> Sample | None:
    frames, windows = video(rng, style, size)
    return tasks.temporal(rng, frames, windows)


MAKERS: dict[str, Maker] = {
    "ground": _scene_task(tasks.ground),
    "find_all": _scene_task(tasks.find_all, least=0),
    "count": _count,
    "presence": _scene_task(tasks.presence),
    "spatial": _scene_task(tasks.spatial, least=2),
    "chart_value": _chart_value,
    "chart_count": _chart_count,
    "chart_ground": _chart_ground,
    "caption": _caption,
    "document_ground": _document(tasks.document_ground),
    "document_count": _document(tasks.count),
    "extract": _document(tasks.extract),
    "temporal": _temporal,
}

INSTRUCT: dict[str, float] = {
    "ground": 0.2,
    "find_all": 0.06,
    "count": 0.14,
    "presence": 0.14,
    "spatial": 0.12,
    "chart_value": 0.12,
    "chart_count": 0.03,
    "chart_ground": 0.03,
    "caption": 0.03,
    "document_ground": 0.04,
    "document_count": 0.02,
    "extract": 0.02,
    "temporal": 0.05,
}

MIXES: dict[str, dict[str, float]] = {
    "captions": {"caption": 1.0},
    "instruct": INSTRUCT,
    # Stage 2's instruction tuning: a quarter spatial questions (comparing two boxes is learnt late).
    "tuning": {**INSTRUCT, "spatial": 0.3},
    # Stage 2b's second tuning: the tasks the model is weakest at weigh more.
    "focus": {**INSTRUCT, "spatial": 0.5, "ground": 0.3, "chart_value": 0.2},
    # A chart pass: value reading (pies and lines are read a step off) is half the mix.
    "charts": {**INSTRUCT, "chart_value": 1.0},
    # Stage 0's language modelling (text only, pictures unused): spatial answers are half of it.
    "language": {**INSTRUCT, "spatial": 0.88},
    # The evaluation's sets: one task each.
    **{name: {name: 1.0} for name in MAKERS},
}


def generate_samples(
    n: int,
    seed: int,
    split: Split = Split.TRAIN,
    mix: str | dict[str, float] = "instruct",
    size: int = 64,
    max_objects: int = MAX_OBJECTS,
) -> list[Sample]:
    weights = MIXES[mix] if isinstance(mix, str) else mix
    names = sorted(weights)
    rng = random.Random(f"{split}:{seed}")
    style = Style(held_out=split is Split.HELD_OUT)
    out: list[Sample] = []
    while len(out) < n:
        name = rng.choices(names, [weights[k] for k in names])[0]
        sample = MAKERS[name](rng, style, size, max_objects)
        if sample is not None:
            out.append(sample)
    return out
