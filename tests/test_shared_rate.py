"""One carrier rate for all daemons: three daemon processes on one PostgreSQL database, each of which alone
would ask the carrier several times a second, together never send it more requests in any second than
`rate_per_second` (counted by the fake carrier, by wall-clock second, as a carrier enforcing its limit
does). The slot is shared through the database (tracker/rate.py)."""

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
            first = len(server.arrivals)
            await asyncio.sleep(8)  # all three asking at once
            asked = len(server.arrivals) - first
            for proc in procs:
                proc.terminate()
            for proc in procs:
                assert await proc.wait() == 0, proc.stderr()
    finally:
        await server.close()
        await engine.dispose()
    counts = server.per_second()
    assert max(counts.values()) <= RATE, counts
    assert asked >= 8, f"only {asked} requests in 8 s: the daemons hardly asked, nothing was shown"


async def test_a_slot_booked_by_one_limiter_is_taken_for_the_others(tmp_path: Path):
    # two limiters (as two daemons hold) on one database: the second waits for the slot the first left
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
    finally:
        await engine.dispose()


async def next_slot(engine) -> float:
    async with sessionmaker(engine)() as s:
        return (await s.execute(select(CarrierState.next_slot_at).where(CarrierState.carrier == "sandbox"))).scalar_one()
