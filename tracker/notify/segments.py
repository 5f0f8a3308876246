"""SMS segment arithmetic. Pure: no IO.

A text that fits the GSM 03.38 7-bit alphabet travels as GSM-7: 160 characters in one segment, 153 per
segment once it is split (the rest carries the concatenation header); the extension characters
(``^{}\\[~]|€`` and form feed) take two septets each. Anything else (Greek lowercase, emoji, most
accented letters) forces the whole message to UCS-2: 70 UTF-16 units in one segment, 67 per segment when
split. Operators bill, and phones reassemble, by segment, so we keep each SMS within a configured number.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

SINGLE = {"GSM-7": 160, "UCS-2": 70}
MULTI = {"GSM-7": 153, "UCS-2": 67}


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def encoding(text: str) -> str:
    return "GSM-7" if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text) else "UCS-2"


def units(text: str, enc: str | None = None) -> int:
    enc = enc or encoding(text)
    if enc == "GSM-7":
        return sum(2 if c in GSM7_EXTENSION else 1 for c in text)
    return len(text.encode("utf-16-le")) // 2


def segments_for(n_units: int, enc: str) -> int:
    if n_units <= SINGLE[enc]:
        return 1
    return -(-n_units // MULTI[enc])


def info(text: str) -> SegmentInfo:
    enc = encoding(text)
    n = units(text, enc)
    return SegmentInfo(enc, n, segments_for(n, enc))


def capacity(max_segments: int, enc: str) -> int:
    """Most units that fit in `max_segments` segments."""
    return SINGLE[enc] if max_segments <= 1 else MULTI[enc] * max_segments


def fit(text: str, max_segments: int = 2, keep: str | None = None) -> str:
    """Shorten `text` to at most `max_segments` segments, keeping `keep` (the tracking link) whole.

    Cuts at a word boundary, marks the cut with an ellipsis and puts the link back at the end. A text
    that already fits is returned unchanged.
    """
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    text = text.strip()
    enc = encoding(text)
    if units(text, enc) <= capacity(max_segments, enc):
        return text
    plain = to_gsm7(text)
    if plain is not None:  # Latin text pushed into UCS-2 by a few accents: drop them rather than words
        text, enc = plain, "GSM-7"
        if units(text, enc) <= capacity(max_segments, enc):
            return text
    link = keep if keep and keep in text else None
    body = " ".join(text.replace(link, " ").split()) if link else " ".join(text.split())
    ellipsis = "..." if enc == "GSM-7" else "…"
    tail = ellipsis + (" " + link if link else "")
    budget = capacity(max_segments, enc) - units(tail, enc)
    if budget <= 0:  # only the link fits (or not even that): the link is what matters
        return link or _cut(text, capacity(max_segments, enc), enc)
    cut = _cut(body, budget, enc)
    space = cut.rfind(" ")
    if space > len(cut) // 2:  # cut at a word boundary unless that throws away too much
        cut = cut[:space]
    return cut.rstrip(" ,;:-–") + tail


_GSM_FIXES = {"ç": "c", "ª": "a", "º": "o", "“": '"', "”": '"', "‘": "'", "’": "'", "–": "-", "—": "-",
              "…": "..."}


def to_gsm7(text: str) -> str | None:
    """`text` with the accents GSM-7 lacks taken off (ã -> a, ó -> o; é, ñ, ü stay), or None when that is
    not enough (Greek, Cyrillic, emoji...)."""
    out = []
    for ch in text:
        if ch in GSM7_BASIC or ch in GSM7_EXTENSION:
            out.append(ch)
            continue
        ch = _GSM_FIXES.get(ch, ch)
        if ch not in GSM7_BASIC:
            ch = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        if not ch or any(c not in GSM7_BASIC and c not in GSM7_EXTENSION for c in ch):
            return None
        out.append(ch)
    return "".join(out)


def _cut(text: str, budget: int, enc: str) -> str:
    out, used = [], 0
    for ch in text:
        cost = units(ch, enc)
        if used + cost > budget:
            break
        out.append(ch)
        used += cost
    return "".join(out)
