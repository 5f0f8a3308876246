"""Text that may reach a log line, an SMS or an email subject: no control characters, no bidi overrides,
no line or paragraph separators, no invisible (zero-width) marks.

A carriage return or newline in an order number forges log lines; U+202E in a shop name turns
"ORDER-1001" around in the customer's SMS; U+2028 breaks a line in a JSON log collector and a zero-width
space makes "ORDER-1001" and "ORDER-1001" two orders. Shop input holding such text is refused at intake,
never silently cleaned (`problem`). A carrier's text is not ours to refuse: it is cleaned where it is
parsed (`clean`), whatever carrier or aggregator it came from.
"""

from __future__ import annotations

import re

# C0 and DEL, C1; the line and paragraph separators; the bidirectional marks, embeddings, overrides and
# isolates; zero-width spaces, joiners and the word joiner, invisible operators, the byte-order mark.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_BIDI = frozenset(range(0x202A, 0x202F)) | frozenset(range(0x2066, 0x206A)) | {0x061C, 0x200E, 0x200F}

# What a carrier's text may carry: terminal escape sequences (removed whole), breaks and other control
# characters (each a space), invisible and direction marks (removed).
_ESCAPE_SEQUENCE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_INVISIBLE = re.compile("[\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def problem(value: str) -> str | None:
    """What is wrong with `value` for a field that reaches logs or messages, or None when it is plain."""
    m = _UNSAFE.search(value)
    if m is None:
        return None
    code = ord(m.group())
    if code in _BIDI:
        kind = "a text-direction control"
    elif code in (0x2028, 0x2029):
        kind = "a line or paragraph separator"
    elif code > 0x9F:
        kind = "an invisible (zero-width) character"
    else:
        kind = "a control character"
    return f"holds {kind} (U+{code:04X}) at position {m.start() + 1}"


FIX = "remove control characters, line breaks, invisible characters and text-direction marks; send the plain value"


def clean(value: str) -> str:
    """A carrier's free text made plain: escape sequences and invisible marks gone, every break or control
    character a space, runs of spaces one, no space at either end."""
    if not value:
        return value
    value = _ESCAPE_SEQUENCE.sub("", value)
    return " ".join(_INVISIBLE.sub("", _BREAKS.sub(" ", value)).split())


_NOT_FOR_A_TERMINAL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def for_terminal(text: str) -> str:
    """Stored text as the operator's terminal shows it (`tracker status`, `tracker alerts`): lines kept,
    escape sequences, control, direction and invisible characters gone, whatever was stored before
    carrier text was cleaned at the parse edge."""
    text = _ESCAPE_SEQUENCE.sub("", text)
    return _INVISIBLE.sub("", _NOT_FOR_A_TERMINAL.sub(" ", text))
