"""End-to-end checks per second through the real poller (claim, track, parse, apply, write events and
outbox) with the sandbox carrier, so the figure is our own cost per check with no network in the way.

    .venv/bin/python bench/checks.py --shipments 5000            # SQLite
    .venv/bin/python bench/checks.py --shipments 5000 --pg        # PostgreSQL on 127.0.0.1:5432
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import make_settings  # noqa: E402
from tracker.app import Daemon  # noqa: E402
from tracker.clock import FakeClock  # noqa: E402
from tracker.db import insert_ignore, sessionmaker  # noqa: E402
from tracker.models import Order, Shipment  # noqa: E402


async def seed(daemon: Daemon, n: int, now: datetime) -> None:
    start = int((now - timedelta(hours=3)).timestamp())  # every parcel is in transit: events and a milestone
    async with sessionmaker(daemon.engine)() as session, session.begin():
        for chunk in range(0, n, 1000):
            orders = [dict(number=f"B-{i}", email=f"c{i}@example.com", phone=None, locale="en", channels="email",
                           created_at=now) for i in range(chunk, min(n, chunk + 1000))]
            await session.execute(insert_ignore(daemon.engine, Order.__table__, orders, ["number"]))
        ids = dict((num, oid) for oid, num in (await session.execute(
            Order.__table__.select().with_only_columns(Order.id, Order.number))).all())
        for chunk in range(0, n, 1000):
            rows = [dict(order_id=ids[f"B-{i}"], carrier="sandbox", tracking_number=f"SBX-DELIVER-{i}-{start}",
                         status="pending", next_check_at=now, public_token=uuid.uuid4().hex, created_at=now,
                         updated_at=now, failures=0) for i in range(chunk, min(n, chunk + 1000))]
            await session.execute(insert_ignore(daemon.engine, Shipment.__table__, rows,
                                                ["carrier", "tracking_number"]))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shipments", type=int, default=5000)
    parser.add_argument("--pg", action="store_true", help="use a fresh database on the local PostgreSQL")
    args = parser.parse_args()
    clock = FakeClock(datetime.now(timezone.utc))
    with tempfile.TemporaryDirectory() as tmp:
        url = None
        if args.pg:
            import asyncpg
            name = f"tracker_bench_{uuid.uuid4().hex[:8]}"
            admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
            await admin.execute(f'CREATE DATABASE "{name}"')
            await admin.close()
            url = f"postgresql://postgres@127.0.0.1:5432/{name}"
        settings = make_settings(Path(tmp), database_url=url, poller={"claim_batch": 1000, "concurrency": 8})
        daemon = Daemon(settings, clock=clock, rng=random.Random(1))
        await daemon.start(web_server=False)
        try:
            await seed(daemon, args.shipments, clock.now())
            began = time.perf_counter()
            checked = 0
            while True:
                stats = await daemon.poller.tick()
                checked += stats.checked
                if not stats.claimed:
                    break
            elapsed = time.perf_counter() - began
        finally:
            await daemon.close()
            if url:
                admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
                await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                await admin.close()
    engine = "PostgreSQL" if args.pg else "SQLite"
    print(f"{engine}: {checked} checks in {elapsed:.2f} s = {checked / elapsed:,.0f} checks/s "
          f"(sandbox carrier, batch 50, each check writing 2 events and 1 outbox row)")


if __name__ == "__main__":
    asyncio.run(main())
