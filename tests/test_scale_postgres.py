"""Three daemon processes on one PostgreSQL database share the work: no shipment is checked by two at
once (as the carrier sees it), no notification goes out twice (as the customer sees it), and when one
daemon is killed with SIGKILL its shipments are taken over once their leases expire."""

import asyncio
import os
import re
import signal
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from tests.fakes.sandbox_server import SandboxServer
from tests.helpers import seed_shipments
from tracker.config import async_url
from tracker.db import make_engine, sessionmaker, upgrade
from tracker.models import Notification, Shipment

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SHIPMENTS = 600
LEASE = 3.0
HEADER = re.compile(r"^── EMAIL to \S+ · (\S+) · (\w+) ─")


async def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


async def test_three_daemons_share_one_database(pg_url, tmp_path: Path):
    # One simulated hour per second: shipped ~2 s after start, out for delivery ~30 s, delivered ~34 s.
    server = SandboxServer(time_scale=3600, latency=0.1)
    base_url = await server.start()
    engine = make_engine(async_url(pg_url, tmp_path))
    procs: list[asyncio.subprocess.Process] = []
    try:
        await upgrade(engine)
        now = datetime.now(timezone.utc)
        await seed_shipments(engine, SHIPMENTS, tracking=f"SBX-DELIVER-{{i}}-{int(now.timestamp())}", now=now)
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump({
            "database": {"url": pg_url},
            "server": {"enabled": False},
            "carriers": {"sandbox": {"base_url": base_url}},
            "poller": {"tick_seconds": 0.3, "lease_seconds": LEASE, "claim_batch": 200, "jitter": 0.2,
                       "intervals": {k: 1.5 for k in ("pending", "info_received", "in_transit", "out_for_delivery",
                                                      "available_for_pickup", "failed_attempt", "exception")}},
            "dispatcher": {"tick_seconds": 0.3, "lease_seconds": LEASE},
            "logging": {"level": "WARNING"},
        }))
        outputs = [tmp_path / f"daemon{i}.out" for i in range(3)]
        for out in outputs:
            with out.open("w") as stdout, (tmp_path / f"{out.stem}.err").open("w") as stderr:
                procs.append(await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "tracker.cli", "--config", str(config), "run",
                    stdout=stdout, stderr=stderr, cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"}))
        victim = procs[0]

        async def shipped_all_sent_and_idle() -> bool:
            async with sessionmaker(engine)() as s:
                sent = (await s.execute(select(func.count()).select_from(Notification).where(
                    Notification.milestone == "shipped", Notification.state == "sent"))).scalar_one()
                busy = (await s.execute(select(func.count()).select_from(Notification).where(
                    Notification.state.in_(["queued", "sending"])))).scalar_one()
            return sent == SHIPMENTS and busy == 0

        async def victim_mid_request() -> bool:
            async with sessionmaker(engine)() as s:
                return (await s.execute(select(func.count()).select_from(Shipment).where(
                    Shipment.lease_owner.like(f"%:{victim.pid}:%")))).scalar_one() > 0

        # Kill one daemon while it is asking the carrier (so it holds leases) and no message is in flight:
        # once every 'shipped' is out, the carrier holds its answers until the victim is dead.
        await wait_until(shipped_all_sent_and_idle, 28, "every 'shipped' sent")
        server.gate.clear()
        await wait_until(victim_mid_request, 5, "the victim to be waiting on the carrier")
        victim.send_signal(signal.SIGKILL)
        killed_at = datetime.now(timezone.utc)
        await victim.wait()
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

        await wait_until(orphans_taken_over, LEASE + 5, f"{len(orphaned)} orphaned shipments checked by the others")

        async def all_delivered_and_sent() -> bool:
            async with sessionmaker(engine)() as s:
                delivered = (await s.execute(select(func.count()).select_from(Shipment).where(
                    Shipment.status == "delivered"))).scalar_one()
                sent = (await s.execute(select(func.count()).select_from(Notification).where(
                    Notification.milestone == "delivered", Notification.state == "sent"))).scalar_one()
            return delivered == SHIPMENTS and sent == SHIPMENTS

        await wait_until(all_delivered_and_sent, 90, "every shipment delivered and announced")
        for proc in procs[1:]:
            proc.send_signal(signal.SIGTERM)
        for proc in procs[1:]:
            assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await server.close()
        await engine.dispose()

    assert server.overlapping() == [], "a shipment was checked by two daemons at once"
    printed = Counter()
    for out in outputs:
        for line in out.read_text().splitlines():
            m = HEADER.match(line)
            if m:
                printed[m.groups()] += 1
    assert {k: v for k, v in printed.items() if v > 1} == {}, "a message went out twice"
    for milestone in ("shipped", "delivered"):
        assert sum(1 for (_, m) in printed if m == milestone) == SHIPMENTS
    # Out for delivery is news only while it is newer than what the poll sees: when a slow poll finds the
    # parcel already delivered, only 'delivered' goes out (stale news is dropped), so at most once each.
    assert sum(1 for (_, m) in printed if m == "out_for_delivery") <= SHIPMENTS
    # every daemon did part of the work
    per_daemon = [sum(1 for ln in out.read_text().splitlines() if HEADER.match(ln)) for out in outputs]
    assert all(n > 0 for n in per_daemon), per_daemon
