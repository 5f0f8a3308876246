"""When to look again. Pure functions: status -> next check, failures -> backoff."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from tracker.config import PollerSettings
from tracker.status import FINAL_STATUSES, Status


def next_check(status: Status | str, now: datetime, settings: PollerSettings,
               rng: random.Random | None = None) -> datetime | None:
    """Adaptive interval by status, spread with jitter; None once there is nothing left to learn."""
    status = Status(status)
    if status in FINAL_STATUSES:
        return None
    base = getattr(settings.intervals, status.value, settings.intervals.in_transit)
    spread = (rng or random).uniform(1 - settings.jitter, 1 + settings.jitter)
    return now + timedelta(seconds=base * spread)


def backoff(failures: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: base, 2*base, 4*base ... up to cap, each drawn in [half, full]."""
    ceiling = min(cap, base * (2 ** max(0, failures - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)
