"""The target phrase of a user's question, and the phrasings the agent asks a backend in: the ones the
shipped model was trained on (vlm_engine/train/data/tasks.py)."""

from __future__ import annotations

import pytest

from vlm_engine.agent.questions import (
    ask_find_every,
    ask_how_many,
    count_target,
    ground_target,
    presence_target,
    relation_target,
    said_yes,
    singular,
    when_target,
)
from vlm_engine.eval.synthetic import held_out_sets


@pytest.mark.parametrize(
    ("question", "phrase"),
    [
        ("Is there a red circle in the image?", "red circle"),
        ("Do you see a orange square?", "orange square"),
        ("Is there an apple?", "apple"),
        ("What is the total?", None),
    ],
)
def test_presence(question, phrase):
    assert presence_target(question) == phrase


def test_count_ground_and_when():
    assert count_target("How many red objects are there?") == "red objects"
    assert count_target("how many boxes do you see") == "boxes"
    assert count_target("Is there a box?") is None
    assert ground_target("Give the box of the blue diamond.") == "blue diamond"
    assert ground_target("Find the table.") == "table" and ground_target("invoice number") == "invoice number"
    assert when_target("Frames at 0s, 1s, 2s. When is the green square visible?") == "green square"
    assert when_target("When does the dog appear?") == "dog" and when_target("Who is there?") is None


@pytest.mark.parametrize(
    ("question", "parsed"),
    [
        (
            "Is the red circle to the left of the blue square?",
            ("red circle", "to the left of", "blue square"),
        ),
        ("is the title on the right of the logo", ("title", "to the right of", "logo")),
        ("Is the total below the subtotal in the page?", ("total", "below", "subtotal")),
        ("Is the lamp over the table?", ("lamp", "above", "table")),
        ("Is the cat underneath a chair?", ("cat", "below", "chair")),
        ("Is there a circle left of the square?", None),  # a presence question, not a relation
        ("What is left of the cat?", None),
    ],
)
def test_relation(question, parsed):
    assert relation_target(question) == parsed


def test_the_backend_is_asked_in_trained_phrasings():
    assert [singular(p) for p in ("circles", "red objects", "boxes", "batteries", "glass")] == [
        "circle",
        "red object",
        "box",
        "battery",
        "glass",
    ]
    assert ask_find_every("red objects") == "Find every red object."
    assert ask_how_many("circle") == "How many circles are there?"
    assert (said_yes("Yes."), said_yes("no"), said_yes("maybe")) == (True, False, None)


def test_every_held_out_question_yields_its_target():
    sets = held_out_sets(30, tasks=("presence", "count", "ground", "temporal", "spatial"))
    for sample in sets["presence"]:
        assert presence_target(sample.question) in sample.question.lower()
    for sample in sets["count"]:
        what = count_target(sample.question)
        assert ask_how_many(what) == sample.question  # asked back exactly as trained
    for sample in sets["ground"]:
        assert f"the {ground_target(sample.question)}" in sample.question.lower()
    for sample in sets["temporal"]:
        assert when_target(sample.question) in sample.question.lower()
    for sample in sets["spatial"]:
        subject, relation, reference = relation_target(sample.question)
        assert sample.question == f"Is the {subject} {relation} the {reference}?"
