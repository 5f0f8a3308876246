"""Text that may reach a log line, an SMS or an email subject: no control characters, no bidi overrides.

A carriage return or newline in an order number forges log lines; U+202E in a shop name turns
"ORDER-1001" around in the customer's SMS. Such text is refused at intake, never silently cleaned.
"""

from __future__ import annotations

import re

# C0 and DEL, C1, and the bidirectional embeddings, overrides and isolates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def problem(value: str) -> str | None:
    """What is wrong with `value` for a field that reaches logs or messages, or None when it is plain."""
    m = _UNSAFE.search(value)
    if m is None:
        return None
    code = ord(m.group())
    kind = "a text-direction control" if code >= 0x202A else "a control character"
    return f"holds {kind} (U+{code:04X}) at position {m.start() + 1}"


FIX = "remove control characters, line breaks and text-direction marks; send the plain value"
