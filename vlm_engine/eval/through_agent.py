"""The synthetic suite through the agent: the same held-out questions asked of `run_agent`, as a user's
request would be, scored by the same rules as the bare model.

Design choices:
- The questions are the full suite's own (`synthetic.suite_sets`: same seeds, same sets, for any subset of
  tasks), so the two tables compare line by line.
- Each picture is written to a PNG, and each temporal question's frames to an H.264 clip at one frame a
  second (the times the question names), and the agent runs on the file with its default options (views,
  zoom, verification, frame search) unless told otherwise: what the service answers, not what the model
  says in one look.
- The agent's `Answer` is read as a generation (its text, its evidence boxes in source units: here the
  picture's pixels, the truth's units), so `synthetic.score` and `summarise` apply unchanged.
- Tasks: grounding goes to the agent's `ground` task; counting, presence, spatial, chart and find-all
  questions to `qa`, which routes them (count by grounding, presence over views, two boxes for a spatial
  relation, one look for the rest); temporal questions to `video_qa` (coarse-to-fine frame search).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
from PIL import Image

from vlm_engine.agent import AgentOptions, run_agent
from vlm_engine.answer import Answer
from vlm_engine.backends.base import Backend, Generation, SourceBox
from vlm_engine.eval.synthetic import TASKS, score, suite_sets, summarise
from vlm_engine.grounding import Box
from vlm_engine.train.data import Sample

logger = logging.getLogger(__name__)

CLIP_FPS = 1  # the temporal questions name their frames at 0 s, 1 s, ...


def as_generation(answer: Answer) -> Generation:
    """The agent's answer as the suite reads a model's: its text and its evidence boxes, in order."""
    return Generation(answer.text, tuple(SourceBox(Box(*e.bbox), e.label) for e in answer.evidence))


def run(
    backend: Backend,
    n: int = 100,
    seed: int = 0,
    tasks: Sequence[str] = TASKS,
    options: AgentOptions | None = None,
) -> dict[str, Any]:
    """Like `synthetic.run`, through `run_agent`. Returns {"metrics", "records", "model", "n", "seed"}."""
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        raise ValueError(f"unknown tasks: {', '.join(unknown)}; known: {', '.join(TASKS)}")
    options = options or AgentOptions()
    records = []
    with tempfile.TemporaryDirectory(prefix="sightline-eval-") as folder:
        for task, samples in suite_sets(n, seed, tasks).items():
            for i, sample in enumerate(samples):
                path = _write_source(sample, Path(folder) / f"{task}-{i}")
                answer = run_agent(
                    {"ground": "ground", "temporal": "video_qa"}.get(task, "qa"),
                    str(path),
                    question=sample.question,
                    backend=backend,
                    options=options,
                )
                records.append(score(sample, as_generation(answer)))
            logger.info("synthetic eval through the agent: %s done (%d samples)", task, len(samples))
    model = f"{backend.name} + agent"  # the suffix survives the table's cut to the last 28 characters
    return {"model": model, "n": n, "seed": seed, "metrics": summarise(records), "records": records}


def _write_source(sample: Sample, stem: Path) -> Path:
    """The file a user would upload: a PNG of the picture, or an H.264 clip of a temporal question's frames."""
    if sample.task != "temporal":
        path = stem.with_suffix(".png")
        Image.fromarray(sample.pictures[0].pixels).save(path)
        return path
    path = stem.with_suffix(".mp4")
    height, width = sample.pictures[0].pixels.shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=CLIP_FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "12"}  # near-lossless: the shades the model reads survive
        for picture in sample.pictures:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture.pixels, format="rgb24")))
        container.mux(stream.encode())
    return path
