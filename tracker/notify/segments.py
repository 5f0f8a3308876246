"""SMS segment arithmetic. Pure: no IO.

A text that fits the GSM 03.38 7-bit alphabet travels as GSM-7: 160 characters in one segment, 153 per
segment once it is split (the rest carries the concatenation header); the extension characters
(``^{}\\[~]|€`` and form feed) take two septets each. Anything else (Greek lowercase, emoji, most
accented letters) forces the whole message to UCS-2: 70 UTF-16 units in one segment, 67 per segment when
split. Operators bill, and phones reassemble, by segment, so we keep each SMS within a configured number.
"""

from __future__ import annotations

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


def pick(candidates: list[str | None], max_segments: int) -> str:
    """The first text that fits in `max_segments` segments, as written: accents are never taken off (they
    change words: "intentó" is not "intento"), the encoding follows the text. A template offers its
    full SMS and a short one that still holds the essentials; when even the short one does not fit (a
    very long pickup address), it goes out whole, a segment longer, rather than losing a word of them.
    """
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    texts = [t.strip() for t in candidates if t and t.strip()]
    if not texts:
        raise ValueError("no SMS text to send")
    for text in texts:
        if info(text).segments <= max_segments:
            return text
    return min(texts, key=lambda t: (info(t).segments, info(t).units))


