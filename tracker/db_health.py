"""The database as the daemon's loops see it: one log line when it goes away, one when it is back (with how
long it was away), and a backoff meanwhile so that each loop tries again at 1, 2, 4, 8, 10, 10 ... s instead of
writing a traceback on every tick. /readyz and /metrics read the same state."""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import exc as sa_exc

from tracker.db import DatabaseUnreachable

log = logging.getLogger("tracker.db")

BACKOFF_MAX_SECONDS = 10.0


def is_outage(error: BaseException) -> bool:
    """A connection that failed, was cut or timed out, or a SQLite file that stays locked: the database is
    away, not the code wrong."""
    if isinstance(error, (DatabaseUnreachable, OSError, asyncio.TimeoutError, sa_exc.TimeoutError)):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        return isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError)) or "connection" in str(
            error.orig).lower()
    name = type(error).__name__  # asyncpg's, without importing it on SQLite
    return name in ("ConnectionDoesNotExistError", "CannotConnectNowError", "InterfaceError",
                    "ConnectionFailureError", "TooManyConnectionsError")


class DatabaseHealth:
    """Times are the process's monotonic clock: a backoff paces real retries, whatever the business clock."""

    def __init__(self) -> None:
        self.down_since: float | None = None
        self.reason = ""
        self.failures = 0
        self.retry_at: float | None = None

    @property
    def up(self) -> bool:
        return self.down_since is None

    def down_for(self) -> float:
        return 0.0 if self.down_since is None else time.monotonic() - self.down_since

    def waiting(self) -> bool:
        """True while the loops should not try yet (the database is away and its backoff not over)."""
        return self.retry_at is not None and time.monotonic() < self.retry_at

    def failed(self, error: BaseException) -> None:
        now = time.monotonic()
        self.failures += 1
        if self.down_since is None:
            self.down_since = now
            self.reason = _why(error)
            log.warning("database unavailable (%s): work paused, retrying with backoff up to %.0f s; "
                        "/healthz stays 200, /readyz answers 503", self.reason, BACKOFF_MAX_SECONDS)
        self.retry_at = now + min(BACKOFF_MAX_SECONDS, 2.0 ** min(self.failures - 1, 5))

    def ok(self) -> None:
        if self.down_since is not None:
            log.warning("database back after %.0f s (%d failed tries); work resumes", self.down_for(), self.failures)
        self.down_since, self.reason, self.failures, self.retry_at = None, "", 0, None


def _why(error: BaseException) -> str:
    orig = getattr(error, "orig", None) or error
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    return f"{type(orig).__name__}: {text}"[:200] if text else type(orig).__name__
