"""Key-field extraction on scanned receipts: exact match per field and the IoU of each field's evidence box.

Design choices:
- The data directory is laid out like SROIE (the shared corpus's `receipts/`): `img/NAME.jpg` the scan,
  `key/NAME.json` the truth `{"company", "date", "address", "total"}`, `box/NAME.csv` one text line per row,
  `x1,y1,...,x4,y4,transcript` (four corners in pixels; split on the first eight commas only).
- Each receipt goes through the agent exactly as a user's extract job would (`run_agent("extract", ...)`,
  with an optional backend), with `RECEIPT_SCHEMA`.
- Exact match compares upper-cased text with whitespace runs collapsed; `loose` also ignores whitespace
  altogether (OCR often drops or adds spaces around punctuation), reported beside it.
- The truth box of a field is the ground-truth line that holds its value (the value not touching other
  digits; spacing ignored for values of `LOOSE_HOLD_CHARS` or more; where several lines hold it, as totals often repeat, the best IoU of them counts); a value spread
  over lines (addresses, long names) is the union of the vertically adjacent lines that are part of it
  (at least `PART_MATCH` of a line's characters matched in order, the transcripts having their own typos).
  A field with no truth box is left out of its IoU mean; a field the agent left empty scores IoU 0.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlm_engine.agent import AgentOptions, run_agent
from vlm_engine.backends.base import Backend
from vlm_engine.grounding import Box, union_all

logger = logging.getLogger(__name__)

FIELDS = ("company", "date", "address", "total")
RECEIPT_SCHEMA = {
    "properties": {
        "company": {"type": "string", "description": "the business that issued the receipt"},
        "date": {"type": "string", "description": "the date of the purchase, as printed"},
        "address": {"type": "string", "description": "the issuer's address"},
        "total": {"type": "string", "description": "the total amount paid, as printed"},
    }
}
PART_MATCH = 0.8
MIN_PART_CHARS = 3
LOOSE_HOLD_CHARS = 8  # a value this long is held by a line even where the two space words differently


class ReceiptsDataError(ValueError):
    """The data directory is not laid out like SROIE receipts."""


@dataclass(frozen=True)
class TruthLine:
    box: Box
    text: str


@dataclass(frozen=True)
class Receipt:
    name: str
    image: Path
    key: dict[str, str]
    lines: tuple[TruthLine, ...]


@dataclass
class FieldSummary:
    exact: float
    loose: float
    mean_iou: float | None  # over receipts whose value has a truth box
    iou_at_50: float | None  # share of those with IoU >= 0.5
    boxed: int  # receipts whose value has a truth box


@dataclass
class ReceiptsResult:
    receipts: int
    seconds: float
    fields: dict[str, FieldSummary]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": "receipts",
            "receipts": self.receipts,
            "seconds": round(self.seconds, 1),
            "fields": {name: vars(summary) for name, summary in self.fields.items()},
            "rows": self.rows,
        }


def load_receipts(data_dir: str | Path, limit: int | None = None) -> list[Receipt]:
    root = Path(data_dir)
    keys = sorted((root / "key").glob("*.json"))
    if not keys:
        raise ReceiptsDataError(f"{root} has no key/*.json files")
    receipts = []
    for key_path in keys[:limit]:
        name = key_path.stem
        images = sorted((root / "img").glob(f"{name}.*"))
        box_path = root / "box" / f"{name}.csv"
        if not images or not box_path.is_file():
            raise ReceiptsDataError(f"{name}: needs img/{name}.* and box/{name}.csv beside key/{name}.json")
        key = json.loads(key_path.read_text(encoding="utf-8"))
        receipts.append(
            Receipt(name, images[0], {f: str(key.get(f, "")) for f in FIELDS}, _truth_lines(box_path))
        )
    return receipts


def _truth_lines(path: Path) -> tuple[TruthLine, ...]:
    lines = []
    for row in path.read_text(encoding="utf-8", errors="replace").splitlines():
        cells = row.split(",", 8)
        if len(cells) < 9:
            continue
        try:
            xs = [float(v) for v in cells[0:8:2]]
            ys = [float(v) for v in cells[1:8:2]]
        except ValueError:
            continue
        lines.append(TruthLine(Box.from_points(list(zip(xs, ys, strict=True))), cells[8].strip()))
    return tuple(lines)


def normalize(text: str) -> str:
    return " ".join(str(text).upper().split())


def loose(text: str) -> str:
    return "".join(str(text).upper().split())


def truth_boxes(lines: tuple[TruthLine, ...], value: str) -> list[Box]:
    """The candidate truth boxes of a value: each line holding it whole, else the union of its parts."""
    target = loose(value)
    if not target:
        return []
    whole = re.compile(r"(?<![0-9])" + re.escape(normalize(value)) + r"(?![0-9])")
    holders = [
        line.box
        for line in lines
        if whole.search(normalize(line.text))
        or (len(target) >= LOOSE_HOLD_CHARS and target in loose(line.text))
    ]
    if holders:
        return holders
    parts = []
    for line in lines:
        text = loose(line.text)
        if len(text) < MIN_PART_CHARS:
            continue
        matcher = difflib.SequenceMatcher(None, text, target, autojunk=False)
        matched = sum(block.size for block in matcher.get_matching_blocks())
        if matched >= PART_MATCH * len(text):
            parts.append((line, matched))
    if not parts:
        return []
    parts.sort(key=lambda p: p[0].box.y0)
    height = statistics.median(p[0].box.height for p in parts)
    clusters: list[list[tuple[TruthLine, int]]] = [[parts[0]]]
    for part in parts[1:]:
        if part[0].box.y0 - clusters[-1][-1][0].box.y1 > 2 * height:
            clusters.append([])
        clusters[-1].append(part)
    best = max(clusters, key=lambda c: sum(m for _, m in c))
    return [union_all([line.box for line, _ in best])]


def run(data_dir: str | Path, backend: Backend | None = None, limit: int | None = None) -> ReceiptsResult:
    receipts = load_receipts(data_dir, limit)
    started = time.perf_counter()
    rows = []
    for number, receipt in enumerate(receipts, 1):
        answer = run_agent(
            "extract", str(receipt.image), schema=RECEIPT_SCHEMA, options=AgentOptions(), backend=backend
        )
        evidence = {e.label: Box(*e.bbox) for e in answer.evidence}
        row: dict[str, Any] = {"receipt": receipt.name}
        for name in FIELDS:
            truth, predicted = receipt.key[name], answer.fields.get(name)
            candidates = truth_boxes(receipt.lines, truth)
            iou = None
            if candidates:
                box = evidence.get(name)
                iou = max(box.iou(c) for c in candidates) if box is not None and predicted else 0.0
            row[name] = {
                "truth": truth,
                "predicted": predicted,
                "exact": predicted is not None and normalize(predicted) == normalize(truth),
                "loose": predicted is not None and loose(predicted) == loose(truth),
                "iou": None if iou is None else round(iou, 3),
            }
        rows.append(row)
        logger.info(
            "receipt %s (%d/%d) in %.0f ms", receipt.name, number, len(receipts), answer.usage.latency_ms
        )
    return ReceiptsResult(len(rows), time.perf_counter() - started, _summaries(rows), rows)


def _summaries(rows: list[dict[str, Any]]) -> dict[str, FieldSummary]:
    summaries = {}
    for name in FIELDS:
        cells = [row[name] for row in rows]
        ious = [c["iou"] for c in cells if c["iou"] is not None]
        summaries[name] = FieldSummary(
            exact=round(sum(c["exact"] for c in cells) / len(cells), 3),
            loose=round(sum(c["loose"] for c in cells) / len(cells), 3),
            mean_iou=round(statistics.fmean(ious), 3) if ious else None,
            iou_at_50=round(sum(i >= 0.5 for i in ious) / len(ious), 3) if ious else None,
            boxed=len(ious),
        )
    return summaries


def format_table(result: ReceiptsResult) -> str:
    lines = [
        f"receipts: {result.receipts} in {result.seconds:.1f} s",
        f"{'field':<10}{'exact':>8}{'loose':>8}{'box IoU':>10}{'IoU>=.5':>10}{'boxed':>8}",
    ]
    for name, s in result.fields.items():
        iou = "-" if s.mean_iou is None else f"{s.mean_iou:.3f}"
        at_50 = "-" if s.iou_at_50 is None else f"{s.iou_at_50:.3f}"
        lines.append(f"{name:<10}{s.exact:>8.3f}{s.loose:>8.3f}{iou:>10}{at_50:>10}{s.boxed:>8}")
    return "\n".join(lines)
