"""The one source of "now".

Every piece of code that needs the time asks a Clock, so tests and the benchmark simulation can move
time forward without sleeping (72 hours of silence in a millisecond).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


class Clock:
    """Wall-clock time, always timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FakeClock(Clock):
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        self._now += delta
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when


SYSTEM = Clock()
