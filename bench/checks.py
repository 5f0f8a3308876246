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

from tests.helpers import make_settings, seed_shipments  # noqa: E402
from tracker.app import Daemon  # noqa: E402
from tracker.clock import FakeClock  # noqa: E402


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
            start = int((clock.now() - timedelta(hours=3)).timestamp())  # in transit: 2 events and a milestone
            await seed_shipments(daemon.engine, args.shipments, tracking=f"SBX-DELIVER-{{i}}-{start}",
                                 now=clock.now())
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
