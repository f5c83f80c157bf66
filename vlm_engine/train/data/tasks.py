"""Questions, answers and preference pairs built from pictures whose ground truth is known.

Design choices:
- A task builder returns None when the picture cannot support it (no unique referent, no clear spatial
  gap); the mixer then draws another picture. Referents are always unique by name, so a box is never
  ambiguous.
- Boxes are written in the Sightline dialect by `grounding.format_box` over the picture's own size, so
  training text and what the native backend parses are one format.
- Presence questions follow POPE: half "yes", half "no"; a "no" names an absent object drawn at random
  (random), with a shape that is present (popular), or combining a colour and a shape that are each
  present but never together (adversarial).
- A spatial answer shows its evidence first: both boxes, then the verdict ("<ref>red circle</ref><box>..
  </box><ref>blue square</ref><box>..</box> yes"). The verdict is then a comparison of location tokens the
  model has just written, not a judgement from pixels in one step (a bare yes/no stayed at chance).
- Every task with a checkable answer also writes a rejected answer: a hallucinated object, a wrong count,
  a wrong box, a shifted window (stage 3's preference pairs).
"""

from __future__ import annotations

import random
from collections import Counter

from vlm_engine.grounding import RELATIONS, Affine, Box, BoxDialect, format_box, relation_gap
from vlm_engine.train.data.things import COLOURS, SHAPES, Picture, Sample, Thing

POPE_SUBSETS = ("random", "popular", "adversarial")
SPATIAL_GAP = 0.08  # centres must differ by this share of the picture along the axis asked about


def count_bucket(count: int) -> str:
    return "0" if count == 0 else "1-3" if count <= 3 else "4-6" if count <= 6 else "7-12"


def box_text(box: Box, size: int, label: str = "") -> str:
    return format_box(box, BoxDialect.SIGHTLINE, size, size, label=label)


def reading_order(things: list[Thing]) -> list[Thing]:
    """Top to bottom, then left to right, by centre."""
    return sorted(things, key=lambda t: (round(t.box.center[1] / 4), t.box.center[0]))


def _unique(things: list[Thing]) -> list[Thing]:
    names = Counter(t.name for t in things)
    return [t for t in things if names[t.name] == 1]


def _size(picture: Picture) -> int:
    return picture.pixels.shape[0]


def _wrong_box(rng: random.Random, box: Box, size: int) -> Box:
    """A box that misses `box`: the same shape moved by more than its own size."""
    dx = rng.choice((-1, 1)) * rng.uniform(1.2, 2.0) * box.width
    dy = rng.choice((-1, 1)) * rng.uniform(1.2, 2.0) * box.height
    return Affine.translate(dx, dy).apply_box(box).clip(size, size)


def ground(rng: random.Random, picture: Picture) -> Sample | None:
    candidates = _unique(picture.things)
    if not candidates:
        return None
    target = rng.choice(candidates)
    size = _size(picture)
    question = rng.choice(("Where is the {}?", "Find the {}.", "Give the box of the {}."))
    others = [t for t in picture.things if t is not target]
    wrong = rng.choice(others).box if others and rng.random() < 0.5 else _wrong_box(rng, target.box, size)
    return Sample(
        "ground",
        [picture],
        question.format(target.name),
        box_text(target.box, size, target.name),
        {"box": target.box},
        rejected=box_text(wrong, size, target.name),
        referents=[target.box],
    )


def _selection(rng: random.Random, picture: Picture) -> tuple[str, list[Thing]]:
    """A class of things ('circles', 'red objects', 'objects') and its members in the picture."""
    things = picture.things
    if picture.domain == "chart":
        return "points", things
    if picture.domain == "document":
        return "paragraphs", [t for t in things if t.kind == "paragraph"]
    choice = rng.random()
    if choice < 0.4:
        shape = rng.choice(SHAPES)
        return f"{shape}s", [t for t in things if t.kind == shape]
    if choice < 0.7:
        colour = rng.choice(COLOURS)
        return f"{colour} objects", [t for t in things if t.colour == colour]
    return "objects", things


def count(rng: random.Random, picture: Picture) -> Sample:
    what, members = _selection(rng, picture)
    n = len(members)
    wrong = max(0, n + rng.choice((-2, -1, 1, 2)))
    if wrong == n:
        wrong = n + 1
    return Sample(
        "count",
        [picture],
        f"How many {what} are there?",
        str(n),
        {"count": n},
        rejected=str(wrong),
        subset=count_bucket(n),
        referents=[t.box for t in members],
    )


def find_all(rng: random.Random, picture: Picture) -> Sample:
    what, members = _selection(rng, picture)
    size = _size(picture)
    label = what[:-1] if what.endswith("s") else what
    answer = "".join(box_text(t.box, size, label) for t in reading_order(members)) or "none"
    extra = [t for t in picture.things if t not in members]
    if members and rng.random() < 0.5:
        rejected_boxes = reading_order(members)[:-1]  # one missed
    else:
        rejected_boxes = reading_order([*members, *extra[:1]]) if extra else []
    rejected = "".join(box_text(t.box, size, label) for t in rejected_boxes) or "none"
    return Sample(
        "find_all",
        [picture],
        f"Find every {label}.",
        answer,
        {"boxes": [t.box for t in members], "count": len(members)},
        rejected=rejected if rejected != answer else None,
        subset=count_bucket(len(members)),
        referents=[t.box for t in members],
    )


def presence(rng: random.Random, picture: Picture) -> Sample | None:
    present = {(t.colour, t.kind) for t in picture.things}
    if not present:
        return None
    subset = rng.choice(POPE_SUBSETS)
    absent = [(c, s) for c in COLOURS for s in SHAPES if (c, s) not in present]
    if subset == "popular":
        shapes = {s for _, s in present}
        absent = [(c, s) for c, s in absent if s in shapes]
    elif subset == "adversarial":
        colours, shapes = {c for c, _ in present}, {s for _, s in present}
        absent = [(c, s) for c, s in absent if c in colours and s in shapes]
    if not absent:
        return None
    if rng.random() < 0.5:
        colour, shape = rng.choice(sorted(present))
        answer = "yes"
    else:
        colour, shape = rng.choice(absent)
        answer = "no"
    question = rng.choice(("Is there a {} {} in the image?", "Do you see a {} {}?"))
    return Sample(
        "presence",
        [picture],
        question.format(colour, shape),
        answer,
        {"answer": answer},
        rejected="no" if answer == "yes" else "yes",
        subset=subset,
        referents=[t.box for t in picture.things if (t.colour, t.kind) == (colour, shape)],
    )


def spatial(rng: random.Random, picture: Picture) -> Sample | None:
    candidates = _unique(picture.things)
    if len(candidates) < 2:
        return None
    a, b = rng.sample(candidates, 2)
    relation = rng.choice(sorted(RELATIONS))
    gap = relation_gap(a.box, b.box, relation)
    if abs(gap) < SPATIAL_GAP * _size(picture):
        return None
    verdict = "yes" if gap > 0 else "no"
    size = _size(picture)
    evidence = box_text(a.box, size, a.name) + box_text(b.box, size, b.name)
    return Sample(
        "spatial",
        [picture],
        f"Is the {a.name} {relation} the {b.name}?",
        f"{evidence} {verdict}",
        {"answer": verdict},
        rejected=f"{evidence} {'no' if verdict == 'yes' else 'yes'}",
        referents=[a.box, b.box],
    )


def chart_value(rng: random.Random, picture: Picture) -> Sample | None:
    valued = [t for t in picture.things if t.value is not None]
    if not valued:
        return None
    target = rng.choice(valued)
    question = {
        "bar": "What is the value of the {} bar?",
        "slice": "What percentage is the {} slice?",
        "line": "What is the last value of the {} line?",
    }[target.kind].format(target.colour)
    value = int(target.value)
    wrong = value + rng.choice((-5, 5))  # a step off on the 5-unit scale: the reading error actually made
    if abs(wrong - value) <= 0.05 * value:  # 95 for 100 would still count as right
        wrong = value - 10
    return Sample(
        "chart",
        [picture],
        question,
        str(value),
        {"value": float(value)},
        rejected=str(wrong),
        subset=target.kind,  # bar, slice or line: the kinds read very differently
        referents=[target.box],
    )


def caption(rng: random.Random, picture: Picture) -> Sample:
    if picture.domain == "scene":
        things = reading_order(picture.things)
        listed = ", ".join(f"a {t.name}" for t in things)
        text = f"{len(things)} objects: {listed}." if things else "no objects."
    elif picture.domain == "chart":
        kinds = Counter(t.kind for t in picture.things)
        kind, n = kinds.most_common(1)[0]
        text = f"{picture.caption} with {n} {kind}{'s' if n != 1 else ''}."
    else:
        kinds = Counter(t.kind for t in picture.things)
        parts = [f"{n} {k}{'s' if n != 1 else ''}" for k, n in sorted(kinds.items())]
        text = f"{picture.caption} with " + ", ".join(parts) + "."
    question = rng.choice(("Describe the image.", "What is in the image?", "Caption this image."))
    return Sample("caption", [picture], question, text)


def document_ground(rng: random.Random, picture: Picture) -> Sample | None:
    kinds = Counter(t.kind for t in picture.things)
    candidates = [t for t in picture.things if kinds[t.kind] == 1 and t.kind != "field"]
    if not candidates:
        return None
    target = rng.choice(candidates)
    size = _size(picture)
    return Sample(
        "ground",
        [picture],
        f"Where is the {target.kind}?",
        box_text(target.box, size, target.kind),
        {"box": target.box},
        rejected=box_text(_wrong_box(rng, target.box, size), size, target.kind),
        subset="document",
        referents=[target.box],
    )


def extract(rng: random.Random, picture: Picture) -> Sample | None:
    fields = [t for t in picture.things if t.kind == "field"]
    if not fields:
        return None
    target = rng.choice(fields)
    key, value = target.label.split(": ", 1)
    return Sample(
        "extract",
        [picture],
        f"What is the {key}?",
        value,
        {"value": value, "box": target.box},
        referents=[target.box],
    )


def temporal(rng: random.Random, frames: list[Picture], windows: list[tuple[Thing, float, float]]) -> Sample:
    thing, start, end = rng.choice(windows)
    times = ", ".join(f"{i}s" for i in range(len(frames)))
    shift = rng.choice((-2, 2))
    return Sample(
        "temporal",
        frames,
        f"Frames at {times}. When is the {thing.name} visible?",
        f"from {start:g}s to {end:g}s",
        {"window": (start, end)},
        rejected=f"from {max(0, start + shift):g}s to {max(1, end + shift):g}s",
    )
