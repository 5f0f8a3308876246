"""Backfill of a Shopify shop's orders by `tracker shopify connect`, within the Admin API's cost-based rate
limit, against the fake GraphQL Admin API (tests/fakes/shopify_admin.py: real GraphQL, the cost extension,
a leaky bucket that answers THROTTLED when a query costs more than it holds).

    .venv/bin/python bench/backfill.py --orders 10000                  # Standard plan: 100 points/s
    .venv/bin/python bench/backfill.py --orders 10000 --plan plus      # Shopify Plus: 1,000 points/s

The shop holds `--orders` orders of the last 30 days, customers in PT, ES, GR, BR and US: 30 % paid and
waiting to ship, 50 % in transit (one in ten in two parcels), 15 % delivered, 5 % unpaid. `tracker shopify
connect --days 30` runs in its own process on an empty SQLite database (migrations applied first, outside
the timing); its CPU time is its own (the fake runs in this process). With --again it runs a second time:
nothing new, and it pays the rate limit again (it reads every order to know).
Printed: wall time, the connect process's CPU time and orders per CPU second (compare `bench/bulk.py`, the
bulk registration: rows per CPU second), Admin API queries, cost points spent, seconds spent waiting for the
rate limit, and THROTTLED answers (0: the limit was never overrun).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.shopify_admin import FakeShopify  # noqa: E402
from tests.shops_env import CUSTOMERS, shop_settings  # noqa: E402
from tracker.db import make_engine, upgrade  # noqa: E402

PLANS = {"standard": 100, "advanced": 200, "plus": 1000}


def seed(fake: FakeShopify, count: int, now: datetime, rng: random.Random) -> None:
    for i in range(count):
        _, email, phone, country, locale = CUSTOMERS[i % len(CUSTOMERS)]
        local, _, domain = email.partition("@")
        kind = rng.random()
        created = now - timedelta(days=rng.uniform(0, 29.5))
        common = dict(name=f"#{10000 + i}", created=created, email=f"{local}+{i}@{domain}", phone=phone,
                      locale=locale, country=country, address_phone=phone)
        if kind < 0.30:
            fake.add_order(**common)
        elif kind < 0.80:
            parcels = [{"company": "Sandbox", "numbers": [f"SBX-DELIVER-{i}"]}]
            if rng.random() < 0.1:
                parcels.append({"company": "Sandbox", "numbers": [f"SBX-DELIVER-{i}B"]})
            fake.add_order(**common, fulfillments=parcels)
        elif kind < 0.95:
            fake.add_order(**common, fulfillments=[{"company": "Sandbox", "numbers": [f"SBX-DELIVER-{i}"],
                                                    "display": "DELIVERED"}])
        else:
            fake.add_order(**common, financial="PENDING")


async def run_connect(config: Path) -> tuple[float, str]:
    began = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tracker.cli", "--config", str(config), "shopify", "connect", "--days", "30", "--quiet",
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await proc.communicate()
    elapsed = time.perf_counter() - began
    text = out.decode()
    if proc.returncode != 0:
        sys.exit(f"connect failed ({proc.returncode}): {text[-3000:]}")
    return elapsed, text


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=10_000)
    ap.add_argument("--plan", choices=sorted(PLANS), default="standard", help="the restore rate (points/s)")
    ap.add_argument("--bucket", type=float, default=2000, help="the bucket's size in points")
    ap.add_argument("--latency", type=float, default=0.02, help="seconds each fake answer takes")
    ap.add_argument("--again", action="store_true", help="run connect a second time (it reads every order again)")
    args = ap.parse_args()
    now = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeShopify(bucket_max=args.bucket, restore_rate=PLANS[args.plan], latency=args.latency) as fake:
            seed(fake, args.orders, now, random.Random(7))
            settings = shop_settings(Path(tmp), fake, logging={"level": "WARNING"})
            engine = make_engine(settings.async_database_url)
            await upgrade(engine)
            await engine.dispose()
            print(f"tracker shopify connect, {args.orders} orders, {args.plan} plan ({PLANS[args.plan]} points/s, "
                  f"bucket {args.bucket:g}), fake latency {args.latency * 1000:.0f} ms, SQLite; load: "
                  f"{os.getloadavg()[0]:.2f}", flush=True)
            for what in ("first run", "again") if args.again else ("first run",):
                before = os.times()
                q0, p0, t0 = fake.queries, fake.points, fake.throttled
                elapsed, text = await run_connect(Path(settings.source))
                after = os.times()
                cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
                summary = next((line for line in text.splitlines() if line.startswith("Backfill")), text[-300:])
                print(f"{what:<9}: {elapsed:6.1f} s wall, {args.orders / elapsed:6.0f} orders/s; connect CPU {cpu:5.1f} s "
                      f"({args.orders / max(cpu, 1e-9):6.0f} orders per CPU second); {fake.queries - q0} queries, "
                      f"{fake.points - p0:.0f} points ({(fake.points - p0) / elapsed:.0f} points/s), "
                      f"{fake.throttled - t0} THROTTLED", flush=True)
                print(f"           {summary}", flush=True)
    print("load after: %.2f; command: .venv/bin/python bench/backfill.py %s" % (os.getloadavg()[0],
                                                                               " ".join(sys.argv[1:])))


if __name__ == "__main__":
    asyncio.run(main())
