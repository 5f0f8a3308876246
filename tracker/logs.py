"""Logging set-up: one line per record on stderr, its time in ISO 8601 UTC, as text or as one JSON object
(`logging.format: json`) that a log collector reads without a pattern; personal data and secrets masked
on every line, at every level, whoever logged it.

Text:  2026-03-02T14:00:00.123Z INFO    tracker.dispatcher: sms for order ORDER-1001 sent (+1•••••••01)
JSON:  {"time": "2026-03-02T14:00:00.123Z", "level": "INFO", "logger": "tracker.dispatcher",
        "message": "...", "order": "ORDER-1001", "carrier": "ups", "notification": 42}

`order`, `carrier` and `notification` come from the work the line is about (`about()`, set by the poller
for a carrier's batch and by the dispatcher for one notification), where known.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import datetime, timezone

from tracker import redact

FORMATS = ("text", "json")
CONTEXT: dict[str, ContextVar] = {name: ContextVar(f"log_{name}", default=None)
                                  for name in ("order", "carrier", "notification")}


def about(**known: str | int | None) -> None:
    """Name what the current task works on (order, carrier, notification): every line it logs carries it.
    Each asyncio task has its own copy, so a batch or a send sets it once at its start."""
    for name, value in known.items():
        if value is not None:
            CONTEXT[name].set(value)


class Redacting(logging.Filter):
    """Masks emails, phone numbers, passwords in URLs and tokens in every record the handler writes,
    whoever logged it (the database driver's queries and rows at DEBUG, an HTTP library's request dump),
    and adds what the line is about."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact.text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact.text(record.exc_text)
        for name, var in CONTEXT.items():
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


def utc_time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{int(record.msecs):03d}Z"


# A message is one line: a break or control character in it (a carrier's text, a URL someone sent) would
# start what looks like a line of its own.
_BREAKS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(text: str) -> str:
    return _BREAKS.sub(lambda m: repr(m.group())[1:-1], text)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"{utc_time(record)} {record.levelname:<7} {record.name}: {_escaped(record.getMessage())}"
        if record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": utc_time(record), "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        for name in CONTEXT:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        text = json.dumps(entry, ensure_ascii=False, default=str)
        return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")  # line breaks to some readers


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record comes (a test's capture, a redirected stream)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def setup(level: str = "INFO", fmt: str = "text") -> None:
    handler = _Stderr()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(Redacting())
    handler._tracker = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not getattr(h, "_tracker", False)] + [handler]
    root.setLevel(level)
    for noisy in ("aiohttp.access", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # "skipped: maximum number of running instances" is by design (one tick at a time), not news.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
