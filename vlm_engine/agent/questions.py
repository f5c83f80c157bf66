"""Questions: what a user's question asks about, and the plain phrasings a VLM is asked in.

Design choices:
- The agent asks its backend short, fixed questions (the phrasings the shipped model was trained on):
  "Is there a red circle in the image?", "Where is the red circle?", "Find every circle.",
  "How many circles are there?". This module is the one place that writes them, and the one place that
  reads the target phrase back out of a user's question ("Is there a red circle?" -> "red circle",
  "How many circles are there?" -> "circles", "When is the red circle visible?" -> "red circle", "Is the
  red circle left of the blue square?" -> ("red circle", "to the left of", "blue square")).
- Only the user's question is parsed here, never document text (that is data; see `guard`).
- A question none of the patterns match returns None: the caller then falls back to its general path.
"""

from __future__ import annotations

import re

_ARTICLE = r"(?:an?\s+|the\s+|any\s+)?"
_PRESENCE = re.compile(
    rf"^\s*(?:is\s+there|are\s+there|do\s+you\s+see|can\s+you\s+see|does\s+\S+\s+(?:show|contain))\s+"
    rf"{_ARTICLE}(?P<what>.+?)(?:\s+in\s+(?:the|this)\s+(?:image|picture|photo|frame|page))?\s*\??\s*$",
    re.I,
)
_COUNT = re.compile(
    r"^\s*how\s+many\s+(?P<what>.+?)(?:\s+(?:are\s+there|do\s+you\s+see|can\s+you\s+see|are\s+visible"
    r"|are\s+in\s+(?:the|this)\s+\w+|does\s+\S+\s+(?:show|contain)))?\s*\??\s*$",
    re.I,
)
_WHERE = re.compile(
    rf"^\s*(?:where\s+is|find|locate|give\s+the\s+box\s+of|point\s+to)\s+{_ARTICLE}(?P<what>.+?)\s*[?.]?\s*$",
    re.I,
)
_WHEN = re.compile(
    rf"^\s*(?:(?:frames\s+at\s+[^.?]*[.?]\s*)?when\s+(?:is|are|does|do)\s+{_ARTICLE}(?P<what>.+?)\s+"
    r"(?:visible|seen|shown|on\s+screen|appear|show\s+up|in\s+view|present)(?:\s+in\s+the\s+video)?"
    r"|(?:find|show)\s+(?:the\s+moment|when)\s+" + _ARTICLE + r"(?P<what2>.+?)\s+(?:appears|is\s+visible))"
    r"\s*[?.]?\s*$",
    re.I,
)

_RELATION = re.compile(
    rf"^\s*(?:is|are)\s+(?!there\b){_ARTICLE}(?P<subject>.+?)\s+"
    r"(?P<relation>(?:(?:to|on)\s+the\s+)?(?:left|right)\s+of|above|over|below|under(?:neath)?|beneath)\s+"
    rf"{_ARTICLE}(?P<reference>.+?)(?:\s+in\s+(?:the|this)\s+(?:image|picture|photo|frame|page))?\s*\??\s*$",
    re.I,
)
_RELATION_WORDS = {"left": "to the left of", "right": "to the right of", "above": "above", "over": "above"}


def _clean(phrase: str) -> str | None:
    phrase = " ".join(phrase.split()).strip(" ?.!,")
    return phrase.lower() or None


def presence_target(question: str) -> str | None:
    """'Is there a red circle in the image?' -> 'red circle'."""
    found = _PRESENCE.match(question)
    return _clean(found["what"]) if found else None


def count_target(question: str) -> str | None:
    """'How many circles are there?' -> 'circles' (plural, as asked)."""
    found = _COUNT.match(question)
    return _clean(found["what"]) if found else None


def ground_target(question: str) -> str:
    """'Where is the red circle?' -> 'red circle'; anything else is taken as the phrase itself."""
    found = _WHERE.match(question)
    return _clean(found["what"] if found else question) or question


def when_target(question: str) -> str | None:
    """'When is the red circle visible?' -> 'red circle'."""
    found = _WHEN.match(question)
    if not found:
        return None
    return _clean(found["what"] or found["what2"])


def relation_target(question: str) -> tuple[str, str, str] | None:
    """'Is the red circle to the left of the blue square?' -> ('red circle', 'to the left of', 'blue
    square'): the subject, the relation as a key of `grounding.RELATIONS`, and the reference object."""
    found = _RELATION.match(question)
    if not found:
        return None
    subject, reference = _clean(found["subject"]), _clean(found["reference"])
    words = found["relation"].lower().split()
    relation = next((_RELATION_WORDS[w] for w in words if w in _RELATION_WORDS), "below")
    return (subject, relation, reference) if subject and reference else None


def singular(phrase: str) -> str:
    """'red circles' -> 'red circle', 'boxes' -> 'box': the label of one instance."""
    words = phrase.split()
    last = words[-1]
    if last.endswith(("sses", "xes", "ches", "shes")):
        last = last[:-2]
    elif last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif last.endswith("s") and not last.endswith("ss"):
        last = last[:-1]
    return " ".join([*words[:-1], last])


def plural(phrase: str) -> str:
    words = phrase.split()
    last = words[-1]
    if last.endswith(("s", "x", "ch", "sh")):
        last += "es"
    elif last.endswith("y") and len(last) > 1 and last[-2] not in "aeiou":
        last = last[:-1] + "ies"
    else:
        last += "s"
    return " ".join([*words[:-1], last])


def ask_presence(phrase: str) -> str:
    return f"Is there a {phrase} in the image?"


def ask_where(phrase: str) -> str:
    return f"Where is the {phrase}?"


def ask_find_every(phrase: str) -> str:
    return f"Find every {singular(phrase)}."


def ask_how_many(phrase: str) -> str:
    return f"How many {plural(singular(phrase))} are there?"


def said_yes(text: str) -> bool | None:
    """A leading yes or no in a reply, else None."""
    head = text.strip().lower()
    if head.startswith("yes"):
        return True
    if head.startswith("no"):
        return False
    return None
