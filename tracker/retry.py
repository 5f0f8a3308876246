"""Retry timing shared by carriers, channels and the daemon loops: exponential backoff with jitter, and
the Retry-After header (seconds or an HTTP date). Imports nothing of the package, so any module may use it."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime


def backoff(failures: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: base, 2*base, 4*base ... up to cap, each drawn in [half, full]."""
    ceiling = min(cap, base * (2 ** max(0, failures - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After is either seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())
