"""One carrier rate for all daemons: three daemon processes on one PostgreSQL database, each of which alone
would ask the carrier several times a second, together send it no more than `rate_per_second` requests a
second (counted by the fake carrier, on its own wall clock). The slot is shared through the database
(tracker/rate.py): bookings are at least 1/rate apart. What the carrier sees is each booking plus the time
the daemon's loop takes to send it, which a loaded machine stretches: a request booked late in one second
can arrive in the next beside one sent on time. So the count over the measured window is held to the rate
with one second of slack, the same bound a carrier counting over a window enforces; without the shared
slot the three daemons would send three times the rate."""

import asyncio
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.sandbox_server import SandboxServer
from tests.helpers import seed_shipments
from tests.procs import Daemons, daemon_config, quick_polling
from tracker.config import async_url
from tracker.db import make_engine, sessionmaker, upgrade
from tracker.models import CarrierState
from tracker.rate import MARGIN, SharedRate

pytestmark = [pytest.mark.slow]

RATE = 2  # requests per second, for all daemons together
SHIPMENTS = 600  # due every second, 50 a request: 12 requests a second wanted, 6 times the rate


@pytest.mark.postgres
async def test_three_daemons_together_keep_the_carriers_rate(pg_url, tmp_path: Path):
    server = SandboxServer(time_scale=3600)
    server.pinned_hours = 2  # in transit: every check is wanted again a second later
    base_url = await server.start()
    engine = make_engine(async_url(pg_url, tmp_path))
    try:
        await upgrade(engine)
        now = datetime.now(timezone.utc)
        await seed_shipments(engine, SHIPMENTS, tracking=f"SBX-DELIVER-{{i}}-{int(now.timestamp())}", now=now)
        polling = quick_polling(1.0, lease=30, tick=0.2)
        daemon_config(tmp_path, database={"url": pg_url},
                      carriers={"sandbox": {"base_url": base_url, "time_scale": 3600, "rate_per_second": RATE}},
                      poller=polling["poller"], dispatcher=polling["dispatcher"], logging={"level": "INFO"})
        async with Daemons(tmp_path) as daemons:
            procs = [await daemons.start("run", name=f"daemon{i}") for i in range(3)]
            deadline = time.monotonic() + 60
            while not all(" running: database " in p.stderr() for p in procs):
                assert time.monotonic() < deadline, "the daemons did not start:\n" + "\n".join(
                    p.stderr() for p in procs)
                await asyncio.sleep(0.1)
            opened = time.time()
            await asyncio.sleep(8)  # all three asking at once
            closed = time.time()
            for proc in procs:
                proc.terminate()
            for proc in procs:
                assert await proc.wait() == 0, proc.stderr()
    finally:
        await server.close()
        await engine.dispose()
    asked = sum(1 for at in server.arrivals if opened <= at <= closed)
    bound = (closed - opened + 1) * RATE + 1
    assert asked <= bound, (f"{asked} requests in {closed - opened:.1f} s, more than {bound:.0f}: "
                            f"per second {server.per_second()}")
    assert asked >= 8, f"only {asked} requests in 8 s: the daemons hardly asked, nothing was shown"


async def test_a_slot_booked_by_one_limiter_is_taken_for_the_others(tmp_path: Path):
    # two limiters (as two daemons hold) on one database: the second waits for the slot the first left
    # (on SQLite each books through its own sqlite3 connection first, as two processes would)
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    try:
        await upgrade(engine)
        a, b = SharedRate(engine, "sandbox", 2), SharedRate(engine, "sandbox", 2)
        assert (await a.acquire(5.0))[0]
        first = await next_slot(engine)
        booked, wait = await b.acquire(0.0)  # not willing to wait: refused, and told how long the wait is
        assert not booked and 0 < wait <= a.interval * MARGIN
        booked, waited = await b.acquire(5.0)
        assert booked and waited > 0
        assert await next_slot(engine) >= first + a.interval  # the next slot moved on by 1/rate at least
        a.close(), b.close()
    finally:
        await engine.dispose()


async def next_slot(engine) -> float:
    async with sessionmaker(engine)() as s:
        return (await s.execute(select(CarrierState.next_slot_at).where(CarrierState.carrier == "sandbox"))).scalar_one()


async def test_a_fast_carriers_slots_are_booked_a_block_at_a_time_and_kept_for_the_daemon_that_booked_them(
        tmp_path: Path):
    # 100 requests a second, a block of a minute of them (so that no machine is slow enough to outlive it here):
    # one database write for the block; the other daemon waits for its end; the first uses its slots 1/rate apart
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    a = b = None
    try:
        await upgrade(engine)
        a = SharedRate(engine, "sandbox", 100, block_seconds=60)
        b = SharedRate(engine, "sandbox", 100, block_seconds=60)
        assert (await a.acquire(5.0))[0] and (await a.acquire(5.0))[0]  # the first makes the row, then books
        booked_until = await next_slot(engine)
        booked, wait = await b.acquire(0.0)
        assert not booked and wait > 30  # the block is a's
        started = time.monotonic()
        for _ in range(5):
            assert (await a.acquire(5.0))[0]
        assert time.monotonic() - started >= 4 * a.interval  # 1/rate apart (the first may be due already)
        assert await next_slot(engine) == booked_until  # taken from the block: no new booking
    finally:
        for limiter in (a, b):
            if limiter is not None:
                limiter.close()
        await engine.dispose()
