"""Three daemon processes on one PostgreSQL database share the work: no shipment is checked by two at
once (as the carrier sees it), no notification goes out twice (as the customer sees it), and when one
daemon is killed with SIGKILL its shipments are taken over once their leases expire."""

import asyncio
import re
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.fakes.sandbox_server import SandboxServer
from tests.helpers import seed_shipments
from tests.procs import Daemons, daemon_config, quick_polling
from tracker.config import async_url
from tracker.db import make_engine, sessionmaker, upgrade
from tracker.models import Notification, Shipment

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SHIPMENTS = 600
LEASE = 6.0  # a send and its record fit well inside it on a loaded 2-core machine
HEADER = re.compile(r"^── EMAIL to \S+ · (\S+) · (\w+) ─")


async def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


async def test_three_daemons_share_one_database(pg_url, tmp_path: Path):
    # The sandbox server holds every journey at the hour the test pins (shipped from hour 2, out for
    # delivery from 30, delivered from 34), so a slow machine cannot make a daemon skip a step.
    server = SandboxServer(time_scale=3600, latency=0.1)
    server.pinned_hours = 0  # label created: nothing to announce until every daemon is up
    base_url = await server.start()
    engine = make_engine(async_url(pg_url, tmp_path))
    try:
        await upgrade(engine)
        now = datetime.now(timezone.utc)
        await seed_shipments(engine, SHIPMENTS, tracking=f"SBX-DELIVER-{{i}}-{int(now.timestamp())}", now=now)
        daemon_config(tmp_path, database={"url": pg_url},
                      carriers={"sandbox": {"base_url": base_url, "time_scale": 3600}},
                      poller={**quick_polling(1.5, lease=LEASE, tick=0.3)["poller"], "claim_batch": 200, "jitter": 0.2},
                      dispatcher=quick_polling(1.5, lease=LEASE, tick=0.3)["dispatcher"],
                      logging={"level": "INFO"})
        async with Daemons(tmp_path) as daemons:
            procs = [await daemons.start("run", name=f"daemon{i}") for i in range(3)]
            victim = procs[0]

            async def all_running() -> bool:
                return all(" running: database " in p.stderr() for p in procs)

            await wait_until(all_running, 60, "all three daemons to start")
            server.pinned_hours = 2  # shipped: the work is there for all three to share

            async def count(*where) -> int:
                async with sessionmaker(engine)() as s:
                    return (await s.execute(select(func.count()).select_from(Notification).where(*where))).scalar_one()

            async def all_sent_and_idle(milestone: str) -> bool:
                return (await count(Notification.milestone == milestone, Notification.state == "sent") == SHIPMENTS
                        and await count(Notification.state.in_(["queued", "sending"])) == 0)

            async def victim_mid_request() -> bool:
                async with sessionmaker(engine)() as s:
                    return (await s.execute(select(func.count()).select_from(Shipment).where(
                        Shipment.lease_owner.like(f"%:{victim.pid}:%")))).scalar_one() > 0

            # Kill one daemon while it is asking the carrier (so it holds leases) and no message is in
            # flight: once every 'shipped' is out, the carrier holds its answers until the victim is dead.
            await wait_until(lambda: all_sent_and_idle("shipped"), 90, "every 'shipped' sent")
            server.gate.clear()
            await wait_until(victim_mid_request, 10, "the victim to be waiting on the carrier")
            victim.kill()
            killed_at = datetime.now(timezone.utc)
            await victim.wait()
            server.pinned_hours = 30
            server.gate.set()
            async with sessionmaker(engine)() as s:
                orphaned = [sid for (sid,) in await s.execute(
                    select(Shipment.id).where(Shipment.lease_owner.like(f"%:{victim.pid}:%")))]
            assert orphaned, "the killed daemon held no lease; the takeover would not be tested"

            async def orphans_taken_over() -> bool:
                async with sessionmaker(engine)() as s:
                    left = (await s.execute(select(func.count()).select_from(Shipment).where(
                        Shipment.id.in_(orphaned),
                        (Shipment.last_checked_at.is_(None)) | (Shipment.last_checked_at < killed_at)))).scalar_one()
                return left == 0

            await wait_until(orphans_taken_over, LEASE + 30, f"{len(orphaned)} orphaned shipments checked by the others")
            await wait_until(lambda: all_sent_and_idle("out_for_delivery"), 90, "every 'out for delivery' sent")
            server.pinned_hours = 34

            async def all_delivered_and_sent() -> bool:
                async with sessionmaker(engine)() as s:
                    delivered = (await s.execute(select(func.count()).select_from(Shipment).where(
                        Shipment.status == "delivered"))).scalar_one()
                return delivered == SHIPMENTS and await all_sent_and_idle("delivered")

            await wait_until(all_delivered_and_sent, 90, "every shipment delivered and announced")
            for proc in procs[1:]:
                proc.terminate()
            for proc in procs[1:]:
                assert await proc.wait() == 0, proc.stderr()
            outputs = [p.stdout() for p in procs]
    finally:
        await server.close()
        await engine.dispose()

    assert server.overlapping() == [], "a shipment was checked by two daemons at once"
    printed = Counter()
    for out in outputs:
        for line in out.splitlines():
            m = HEADER.match(line)
            if m:
                printed[m.groups()] += 1
    assert {k: v for k, v in printed.items() if v > 1} == {}, "a message went out twice"
    for milestone in ("shipped", "out_for_delivery", "delivered"):
        assert sum(1 for (_, m) in printed if m == milestone) == SHIPMENTS
    # every daemon did part of the work
    per_daemon = [sum(1 for ln in out.splitlines() if HEADER.match(ln)) for out in outputs]
    assert all(n > 0 for n in per_daemon), per_daemon
