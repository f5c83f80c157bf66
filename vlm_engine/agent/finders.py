"""General field finders over boxed text lines: dates, money totals, the issuer's name, its address.

Design choices:
- They read `TextLine`s (text layer or OCR words with boxes), so they run offline on CPU with no model,
  and every value they return is words of the document with those words' boxes: grounded by construction.
- The rules come from how receipts, invoices and forms are printed in general, not from any corpus:
  - date: numeric day/month/year in either order or year first, with `/ - .` separators and two- or
    four-digit years, and month names (English, a few other languages) in either order; a date beside a
    "date" keyword or a time of day wins, one beside "due"/"expiry" loses; ties go to the topmost.
  - total: amounts with two decimals; each is scored by the words before it on its own row (the same line
    or lines to its left): "grand total", "amount due" and the like above a plain "total", which beats none;
    subtotal, tax, discount, cash tendered, change and rounding lines count against. Among equals the
    largest amount wins (a total includes its parts), and one that recurs (total, then cash paid) gains.
    Where a rounding adjustment is printed (cash rounding), the amount below the total that equals it plus
    or minus the adjustment is what was paid. A currency sign printed against the amount ($, €, £, ¥) is
    part of the value as printed.
  - company: the issuer prints its name at the top, large, often with a legal form (Ltd, Inc, GmbH,
    Sdn Bhd, ...) or a kind of business; phone, tax-id, address and document-title lines are not names. A
    name ending in "&"/"and", or followed by a line that starts with "&" or is only a legal form, goes on.
  - address: the block of lines under the name, starting at a line with an address cue (street word,
    postcode, house number) and ending at a contact, registration, tax or date line, a phone number or a
    vertical gap.
- A finder returns `Found` (value, where, a score) or None; choosing a finder for a field is `extract`'s job.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from vlm_engine.grounding import Box, union_all
from vlm_engine.reading import TextLine

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10,
    "nov": 11, "dec": 12, "janv": 1, "fev": 2, "mär": 3, "mrz": 3, "avr": 4, "mai": 5, "juin": 6,
    "juil": 7, "ago": 8, "okt": 10, "dez": 12, "dic": 12, "ene": 1, "abr": 4, "ogos": 8, "dis": 12,
}  # fmt: skip
_MONTH = r"(?P<mon>[a-zä]{3,9})\.?"
_DATE_END = r"(?:(?![\d/])|(?=\d{1,2}:\d{2}))"  # no more digits, unless OCR glued a time of day on
_DATE_PATTERNS = [
    re.compile(r"(?<![\d/.-])(?P<a>\d{1,4})\s?(?P<sep>[/.-])\s?(?P<b>\d{1,2})\s?(?P=sep)\s?(?P<c>\d{2,4})" + _DATE_END),
    re.compile(r"(?<![\d])(?P<day>\d{1,2})(?:st|nd|rd|th)?[\s./-]{0,2}" + _MONTH + r"[\s.,/-]{0,2}(?P<year>\d{4}|\d{2})" + _DATE_END, re.I),
    re.compile(_MONTH + r"\s?(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s?(?P<year>\d{4})(?!\d)", re.I),
    re.compile(r"(?P<year>\d{4})\s?年\s?(?P<month>\d{1,2})\s?月\s?(?P<day>\d{1,2})\s?日"),
]  # fmt: skip
_TIME = re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\s?(?:am|pm)?\b", re.I)
_DATE_KEYS = re.compile(r"\b(date|dated|datum|fecha|data|tarikh|issued|日期)\b", re.I)
_DATE_AGAINST = re.compile(r"\b(due|expir\w*|exp|valid|until|birth|dob|since|best before)\b", re.I)

_CURRENCY_SIGNS = "$€£¥"
_AMOUNT = re.compile(r"(?<![\d.,])(?:[$€£¥](?=\d))?-?(?:\d{1,3}(?:[,.' ]\d{3})+|\d+)[.,]\d{2}(?![\d])")
_ROUNDING = re.compile(r"round\w*\s?(?:adj|off|diff)|adjust|rounding", re.I)
_TOTAL_STRONG = re.compile(
    r"grand\s?total|total\s?amount|amount\s?due|total\s?due|balance\s?due|net\s?t\w*l|nett|"
    r"total\s?payable|amount\s?payable|rounded\s?total|total\s?rounded|total\s?(?:\(?incl|inclusive)|to\s?pay|"
    r"total\s?sales|jumlah|gesamt|summe|montant|importe|totaal",
    re.I,
)
_TOTAL = re.compile(r"t[o0]ta[l1]|\btot\b|\bamount\b|\bamt\b|\bbalance\b", re.I)
_TOTAL_AGAINST = re.compile(
    r"sub\s?-?\s?total|\btax\b|\bgst\b|\bvat\b|\bsst\b|service|disc|saving|change|tender|\bcash\b|"
    r"rounding|round\w*\s?adj|adjust|\bqty\b|quantity|items?\b|point|excl|before|deposit|paid|card|visa",
    re.I,
)
_INCLUSIVE = re.compile(r"\bincl|inclusive|including", re.I)

_LEGAL_FORM = re.compile(
    r"\b(sdn\.?\s?bhd|bhd|berhad|sdn|ltd|limited|llc|l\.l\.c|inc|incorporated|corp|corporation|co|company|"
    r"plc|gmbh|ag|s\.?a\.?|sarl|s\.?r\.?l|s\.?p\.?a|b\.?v|n\.?v|pty|pte|llp|k\.?k)\b\.?",
    re.I,
)
_BUSINESS = re.compile(
    r"\b(enterprises?|trading|traders?|stores?|shop|mart|market|supermarket|restaurants?|restoran|cafe|"
    r"café|bakery|hardware|pharmacy|hotel|station|services|industries|group|holdings|stationery|"
    r"book\w*|electrical|motor|machinery|gallery|kitchen|food|bistro|deli|boutique|centre|center)\b",
    re.I,
)
_NOT_A_NAME = re.compile(
    r"\b(tel|phone|fax|e-?mail|www|http|gst|vat|tax|reg|receipt|invoice|bill|cashier|date|time|welcome|"
    r"thank|order|table|counter|member|no\s?:|document)\b|@|\.com\b",
    re.I,
)
_ADDRESS_CUE = re.compile(
    r"\b(jalan|jln|street|st|road|rd|avenue|ave|lane|ln|drive|dr|blvd|boulevard|way|lot|taman|tmn|"
    r"bandar|kawasan|floor|flr|level|block|blk|suite|unit|building|bangunan|plaza|park|mall|highway|"
    r"km|batu|kampung|kg|persiaran|lorong|seksyen|section|strasse|straße|rue|via|calle|postcode|zip)\b\.?|"
    r"^\s*no\.?\s?:?\s?\d|(?<![\d-])\d{5}(?![\d-])|\b\d{1,5}[a-z]?\s?,|^\s*\d{1,5}[a-z]?\s+\w",
    re.I,
)
_ADDRESS_STOP = re.compile(
    r"\b(tel|phone|fax|e-?mail|www|http|gst|vat|tax|date|cashier|document|ph|hp|h/p)\b|invoice|receipt|@|"
    r"\b(roc|br|co|company|reg|registration|business)\.?\s?(no|reg|number)\b|"
    r"^[\s()+\d-]{9,}$",  # a line of digits and dashes: a phone number
    re.I,
)
_NAME_CONTINUES = re.compile(r"(&|\band|\bof|-)\s*$", re.I)
_NAME_CONTINUATION = re.compile(r"^\s*(&|and\b)|^\W*(sdn\.?\s?bhd|bhd|ltd|limited|inc|llc|gmbh|co)\W*$", re.I)
_REGISTRATION = re.compile(r"^\(?\s*(?:[a-z]{0,4}\s?)?[\w-]*\d{4,}[\w-]*\s?\)?$", re.I)
MAX_ADDRESS_LINES = 6
NAME_SEARCH_LINES = 10


@dataclass(frozen=True)
class Found:
    value: str
    lines: tuple[int, ...]  # indices into the lines searched; the first holds `words`
    words: range  # word positions in the first line; all words of any further lines
    score: float

    def box(self, lines: Sequence[TextLine]) -> Box:
        first = lines[self.lines[0]]
        boxes = list(first.word_boxes[self.words.start : self.words.stop]) or [first.box]
        boxes += [lines[i].box for i in self.lines[1:]]
        return union_all(boxes)

    def quoted(self, lines: Sequence[TextLine]) -> str:
        first = lines[self.lines[0]]
        parts = [" ".join(first.words[self.words.start : self.words.stop])]
        return " ".join(parts + [lines[i].text for i in self.lines[1:]])


def _word_range(line: TextLine, start: int, end: int) -> range:
    """The positions of the words of `line` that the characters [start, end) of `line.text` fall in."""
    first = last = None
    offset = 0
    for position, word in enumerate(line.words):
        word_end = offset + len(word)
        if word_end > start and offset < end:
            first = position if first is None else first
            last = position
        offset = word_end + 1
    return range(0, len(line.words)) if first is None else range(first, last + 1)


def _same_row(a: Box, b: Box) -> bool:
    overlap = min(a.y1, b.y1) - max(a.y0, b.y0)
    return overlap >= 0.5 * min(a.height, b.height)


def _row_prefix(lines: Sequence[TextLine], index: int, before_char: int) -> str:
    """The text printed before a position on its row: its own line up to it, and lines to its left."""
    line = lines[index]
    left = [
        other
        for other in lines
        if other is not line
        and (other.page, other.frame_index) == (line.page, line.frame_index)
        and _same_row(other.box, line.box)
        and other.box.x1 <= line.box.x0 + 0.25 * line.box.width
    ]
    left.sort(key=lambda o: o.box.x0)
    return " ".join([o.text for o in left] + [line.text[:before_char]])


def _valid_date(day: int, month: int, year: int | None) -> bool:
    return 1 <= day <= 31 and 1 <= month <= 12 and (year is None or 0 <= year <= 99 or 1900 <= year <= 2100)


def _date_in(match: re.Match) -> bool:
    groups = match.groupdict()
    if "sep" in groups:
        a, b, c = (int(groups[k]) for k in "abc")
        if len(groups["a"]) == 4:  # year first
            return len(groups["c"]) <= 2 and _valid_date(c, b, a)
        if len(groups["c"]) == 3:
            return False
        return _valid_date(a, b, c) or _valid_date(b, a, c)
    month = int(groups["month"]) if groups.get("month") else _MONTHS.get(groups["mon"][:4].lower())
    month = month or _MONTHS.get(groups["mon"][:3].lower())
    return month is not None and _valid_date(int(groups["day"]), month, int(groups["year"]))


def find_date(lines: Sequence[TextLine]) -> Found | None:
    candidates = []
    for index, line in enumerate(lines):
        for pattern in _DATE_PATTERNS:
            for match in pattern.finditer(line.text):
                if not _date_in(match):
                    continue
                context = _row_prefix(lines, index, match.start()) + " " + line.text[match.end() :]
                score = 1.0
                score += 1.0 if _DATE_KEYS.search(context) else 0.0
                score += 0.3 if _TIME.search(context) else 0.0
                score -= 1.5 if _DATE_AGAINST.search(context) else 0.0
                words = _word_range(line, match.start(), match.end())
                candidates.append(Found(match.group(0).strip(), (index,), words, score))
    return _best(candidates, lines)


def is_date(text: str) -> bool:
    """Whether `text` holds a date this module can read."""
    return any(_date_in(m) for p in _DATE_PATTERNS for m in p.finditer(text))


def is_amount(text: str) -> bool:
    """Whether `text` holds a money amount with two decimals."""
    return _AMOUNT.search(text) is not None


def _amount_value(text: str) -> float:
    digits = re.sub(r"[,.' ](?=\d{3}(?:\D|$))", "", text.lstrip(_CURRENCY_SIGNS))
    return float(digits.replace(",", "."))


def find_total(lines: Sequence[TextLine]) -> Found | None:
    amounts = []
    adjustments = []
    for index, line in enumerate(lines):
        for match in _AMOUNT.finditer(line.text):
            prefix = _row_prefix(lines, index, match.start())
            value = _amount_value(match.group(0))
            if _ROUNDING.search(prefix):
                adjustments.append(abs(value))
            weight = 3.0 if _TOTAL_STRONG.search(prefix) else 2.0 if _TOTAL.search(prefix) else 0.0
            if _TOTAL_AGAINST.search(prefix) and not (weight and _INCLUSIVE.search(prefix)):
                weight -= 3.0
            words = _word_range(line, match.start(), match.end())
            amounts.append((Found(match.group(0), (index,), words, weight), value))
    if not amounts:
        return None
    counts: dict[float, int] = {}
    for _, value in amounts:
        counts[value] = counts.get(value, 0) + 1
    top_weight = max(f.score for f, _ in amounts)
    peers = [v for f, v in amounts if f.score == top_weight]
    scored = [
        (
            Found(
                f.value,
                f.lines,
                f.words,
                f.score
                + (0.5 if f.score == top_weight and value == max(peers) else 0.0)
                + 0.3 * min(counts[value] - 1, 2) / 2,
            ),
            value,
        )
        for f, value in amounts
        if f.score >= 0 and value > 0
    ]
    best = _best([f for f, _ in scored], lines, prefer_last=True)
    if best is None:
        return None
    return _after_rounding(best, scored, adjustments, lines) or best


def _after_rounding(
    total: Found, scored: list[tuple[Found, float]], adjustments: list[float], lines: Sequence[TextLine]
) -> Found | None:
    """Where cash is rounded, the amount paid is the total plus or minus the printed adjustment, below it."""
    value = _amount_value(total.value)
    below = lines[total.lines[0]].box.y0
    for adjustment in adjustments:
        if not 0 < adjustment < 1:
            continue
        rounded = {round(value - adjustment, 2), round(value + adjustment, 2)}
        for found, amount in scored:
            line = lines[found.lines[0]]
            if amount in rounded and line.page == lines[total.lines[0]].page and line.box.y0 > below:
                return found
    return None


def _letters(text: str) -> int:
    return sum(c.isalpha() for c in text)


def find_company(lines: Sequence[TextLine]) -> Found | None:
    first_page = [i for i, line in enumerate(lines) if (line.page, line.frame_index) == (lines[0].page, lines[0].frame_index)] if lines else []  # fmt: skip
    top = sorted(first_page, key=lambda i: (lines[i].box.y0, lines[i].box.x0))[:NAME_SEARCH_LINES]
    if not top:
        return None
    median_height = statistics.median(lines[i].box.height for i in first_page)
    candidates = []
    for rank, index in enumerate(top):
        text = lines[index].text
        letters = _letters(text)
        if letters < 3:
            continue
        digits = sum(c.isdigit() for c in text)
        score = 1.0 - rank / NAME_SEARCH_LINES
        score += 3.0 if _LEGAL_FORM.search(text) else 0.0
        score += 1.5 if _BUSINESS.search(text) else 0.0
        score += min(max(lines[index].box.height / median_height - 1.0, 0.0), 1.0)
        score += 0.3 if sum(c.isupper() for c in text) >= 0.8 * letters else 0.0
        score -= 2.0 if digits > 0.3 * (letters + digits) else 0.0
        score -= 2.0 if _NOT_A_NAME.search(text) else 0.0
        score -= 1.5 if _ADDRESS_CUE.search(text) and not _LEGAL_FORM.search(text) else 0.0
        candidates.append(Found(text, (index,), range(len(lines[index].words)), score))
    best = _best(candidates, lines)
    return best if best is None else _with_continuation(best, top, lines)


def _with_continuation(name: Found, top: list[int], lines: Sequence[TextLine]) -> Found:
    """A name broken over two lines ("... HARDWARE &" / "ELECTRICAL", "... STATIONERY" / "& BOOKS")."""
    position = top.index(name.lines[0])
    if position + 1 >= len(top):
        return name
    following = lines[top[position + 1]]
    if not (_NAME_CONTINUES.search(name.value) or _NAME_CONTINUATION.search(following.text)):
        return name
    if _NOT_A_NAME.search(following.text) or _ADDRESS_CUE.search(following.text):
        return name
    return Found(f"{name.value} {following.text}", (*name.lines, top[position + 1]), name.words, name.score)


def find_address(lines: Sequence[TextLine], after: Found | None = None) -> Found | None:
    """The address block under the issuer's name (`after`), or from the top of the first page."""
    if not lines:
        return None
    anchor = lines[after.lines[-1]] if after is not None else lines[0]
    page = [
        i
        for i, line in enumerate(lines)
        if (line.page, line.frame_index) == (anchor.page, anchor.frame_index)
    ]
    ordered = sorted(page, key=lambda i: (lines[i].box.y0, lines[i].box.x0))
    if after is not None:
        ordered = [i for i in ordered if lines[i].box.y0 >= anchor.box.y1 - 0.25 * anchor.box.height]
    median_height = statistics.median(lines[i].box.height for i in page)
    block: list[int] = []
    skipped = 0
    for index in ordered:
        line = lines[index]
        text = line.text
        if block:
            gap = line.box.y0 - lines[block[-1]].box.y1
            if gap > 1.5 * median_height or _ADDRESS_STOP.search(text) or len(block) >= MAX_ADDRESS_LINES:
                break
            if any(p.search(text) for p in _DATE_PATTERNS):
                break
            block.append(index)
        elif _ADDRESS_CUE.search(text) and not _ADDRESS_STOP.search(text) and _letters(text) >= 2:
            block.append(index)
        elif skipped >= 3:
            break
        elif not _REGISTRATION.match(text.strip()):
            skipped += 1  # a registration number between name and address costs nothing
    if not block:
        return None
    value = " ".join(lines[i].text for i in block)
    return Found(value, tuple(block), range(len(lines[block[0]].words)), float(len(block)))


def _best(candidates: list[Found], lines: Sequence[TextLine], prefer_last: bool = False) -> Found | None:
    """The highest score; among equals the topmost (or, for totals, the lowest on the page)."""
    if not candidates:
        return None

    def key(found: Found):
        line = lines[found.lines[0]]
        order = (line.page or 0, line.box.y0)
        return (-found.score, tuple(-v for v in order) if prefer_last else order)

    return min(candidates, key=key)
