"""A carrier's requests per second, shared by every daemon on one database.

The next free request slot lives in `carrier_states.next_slot_at` (wall-clock Unix seconds, which every
process on every machine reads alike). A request is booked right before it is sent, with one UPDATE that
succeeds only once the slot has come and moves it `1/rate` (plus a small margin) ahead; a daemon that finds
the slot taken waits until it comes and tries again. Bookings are serialised by the database (SQLite's write
lock, PostgreSQL's row lock), so N daemons together send at most `rate` requests in any second. A fast
carrier's slots are booked a block at a time (BLOCK_SECONDS of its rate) and used here 1/rate apart.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

from sqlalchemy import func, select, update

from tracker.db import insert_ignore, sessionmaker, write_lock
from tracker.fastsqlite import BUSY, FastSqlite
from tracker.models import CarrierState

# Slots are spaced this much wider than 1/rate: a request sent a few ms after its booking (a busy event
# loop) still lands in the carrier's count for the second it was booked in.
MARGIN = 1.05
BLOCK_SECONDS = 0.05  # the most of a carrier's time one daemon books at once (20 requests/s and more)


BOOK_SQL = "UPDATE carrier_states SET next_slot_at = ? WHERE carrier = ? AND coalesce(next_slot_at, 0.0) <= ?"


class SharedRate:
    def __init__(self, engine, carrier: str, per_second: float, *, block_seconds: float = BLOCK_SECONDS) -> None:
        self.engine = engine
        self.carrier = carrier
        self.interval = 1.0 / per_second
        # a fast carrier's slots are booked a block at a time (BLOCK_SECONDS of its rate, one database write),
        # then taken here one by one, 1/rate apart: the same spacing, a write per block instead of per request
        self.block = max(1, int(per_second * block_seconds))
        self._next = self._end = 0.0  # this daemon's booked slots not used yet: [_next, _end)
        self._maker = sessionmaker(engine)
        self._writing = write_lock(engine)
        self._fast = FastSqlite.open(engine)  # SQLite: the booking without the async engine's layers

    def close(self) -> None:
        if self._fast is not None:
            self._fast.close()
            self._fast = None

    def _booked(self, now: float) -> None:
        """A block of slots from `now` is this daemon's: the first is used now, the others are kept."""
        self._next, self._end = now + self.interval * MARGIN, now + self.block * self.interval * MARGIN

    async def _book(self) -> float:
        """Take the slot (a block of them) if it has come: 0.0. Else seconds until it comes (nothing booked)."""
        C = CarrierState
        now = time.time()
        until = now + self.block * self.interval * MARGIN
        if self._fast is not None and not self._writing.locked():
            # one autocommitted UPDATE through sqlite3 (~50 us of CPU against ~1 ms through the async engine);
            # a slot not come yet, a missing row or a file locked by another writer take the path below
            counts = self._fast.rowcounts(BOOK_SQL, [(until, self.carrier, now)])
            if counts is not BUSY and counts[0] == 1:
                self._booked(now)
                return 0.0
        async with self._writing, self._maker() as session, session.begin():
            taken = (await session.execute(
                update(C).where(C.carrier == self.carrier, func.coalesce(C.next_slot_at, 0.0) <= now)
                .values(next_slot_at=until).returning(C.carrier)
                .execution_options(synchronize_session=False))).first()
            if taken is not None:
                self._booked(now)
                return 0.0
            slot = (await session.execute(select(C.next_slot_at).where(C.carrier == self.carrier))).first()
            if slot is None:  # no row yet for this carrier: made, then booked on the next try
                await session.execute(insert_ignore(self.engine, C.__table__, [dict(
                    carrier=self.carrier, calls_today=0, updated_at=datetime.now(timezone.utc))], ["carrier"]))
                return 0.001
        return max(0.001, (slot[0] or 0.0) - now)

    async def acquire(self, max_wait: float) -> tuple[bool, float]:
        """Book a request slot, waiting for it up to `max_wait` seconds. Returns (booked, seconds waited or,
        when not booked, seconds until the next slot)."""
        waited = 0.0
        while True:
            now = time.time()
            slot = max(self._next, now)  # slots gone by unused are not used late: they would bunch
            if slot < self._end:  # within this daemon's block: 1/rate after the one used before
                self._next = slot + self.interval * MARGIN
                if slot > now:
                    await asyncio.sleep(slot - now)
                    waited += slot - now
                return True, waited
            wait = await self._book()
            if wait == 0.0:
                return True, waited
            if waited + wait > max_wait:
                return False, wait
            await asyncio.sleep(wait)
            waited += wait
