"""Logging set-up: one line per record on stderr."""

from __future__ import annotations

import logging
import sys


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiohttp.access", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # "skipped: maximum number of running instances" is by design (one tick at a time), not news.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
