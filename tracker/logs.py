"""Logging set-up: one line per record on stderr, with personal data masked at every level."""

from __future__ import annotations

import logging
import sys

from tracker import redact


class Redacting(logging.Filter):
    """Masks emails, phone numbers and tokens in every record the handler writes, whoever logged it
    (the database driver's queries and rows at DEBUG, an HTTP library's request dump)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact.text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact.text(record.exc_text)
        return True


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    handler.addFilter(Redacting())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiohttp.access", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # "skipped: maximum number of running instances" is by design (one tick at a time), not news.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
