"""Support search at a million shipments: hit and miss latency per key, with the query plans.

    flock /work/locks/bench.lock .venv/bin/python bench/search.py                   # SQLite, 1,000,000 shipments
    flock /work/locks/bench.lock .venv/bin/python bench/search.py --pg              # PostgreSQL on 127.0.0.1:5432
    .venv/bin/python bench/search.py --shipments 20000 --repeat 5                   # a quick look

Seeds `--shipments` orders with one shipment each (bench/seed.py) and `--waiting` orders waiting to ship
(no parcel, a real mobile each), then runs tracker.search.search() — the function behind
GET /api/v1/search, the console's search and `tracker status` — `--repeat` times per key, hit and miss:
order number, email (typed in another case), phone (typed in national formatting) and tracking number.
Prints the median and worst wall time and the CPU time of this process per search (SQLite runs in it;
PostgreSQL's own CPU is not in it), the EXPLAIN plan of the search statement, and, once per engine, the
time of the query it replaced (an OR over the join of orders and shipments) for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, insert, or_, select, text  # noqa: E402

from bench.checks import pg_database  # noqa: E402
from bench.seed import seed  # noqa: E402
from tracker.db import is_sqlite, make_engine, sessionmaker, upgrade  # noqa: E402
from tracker.models import Order, Shipment  # noqa: E402
from tracker.search import keys, order_ids, search  # noqa: E402

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
REGION = "US"


def queries(n: int, waiting: int) -> list[tuple[str, str, str]]:
    """(key, hit or miss, what support types)."""
    i, w = n // 2 + 12_345 % max(1, n // 2), waiting // 2
    return [
        ("order number", "hit", f"B-{i}"), ("order number", "miss", "B-NOPE-1"),
        ("order number (waiting)", "hit", f"W-{w}"),
        ("email", "hit", f"C{i}@EXAMPLE.COM"), ("email", "miss", "nobody@example.com"),
        ("email (waiting)", "hit", f"Waiting.{w}@Example.com"),
        ("phone", "hit", f"(415) 555-{w:04d}"), ("phone", "miss", "(212) 555-0199"),
        ("tracking number", "hit", f"7{i:011d}"), ("tracking number", "miss", "799999999999"),
    ]


async def populate(engine, url: str, n: int, waiting: int) -> float:
    t0 = time.perf_counter()
    await seed(engine, url, n, carrier="fedex", tracking="7{i:011d}", now=NOW)
    async with sessionmaker(engine)() as session, session.begin():
        # bench/seed.py writes no email_folded (tracker's registration does)
        await session.execute(text("UPDATE orders SET email_folded = lower(email) WHERE email_folded IS NULL"))
        rows = [{"id": n + 1 + j, "number": f"W-{j}", "email": f"Waiting.{j}@example.com",
                 "email_folded": f"waiting.{j}@example.com", "phone": f"+1415555{j:04d}", "locale": "en",
                 "channels": "sms,email", "created_at": NOW} for j in range(waiting)]
        for lo in range(0, len(rows), 5000):
            await session.execute(insert(Order.__table__), rows[lo:lo + 5000])
    if not is_sqlite(engine):
        async with engine.connect() as conn:
            await conn.execute(text(f"SELECT setval(pg_get_serial_sequence('orders', 'id'), {n + waiting})"))
            await conn.commit()
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("ANALYZE orders"))
            await conn.execute(text("ANALYZE shipments"))
    else:
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    return time.perf_counter() - t0


def compiled(engine, q: str) -> str:
    stmt = order_ids(keys(q, REGION))
    return str(stmt.compile(engine.sync_engine if hasattr(engine, "sync_engine") else engine,
                            compile_kwargs={"literal_binds": True}))


async def plan(engine, q: str) -> list[str]:
    sql = compiled(engine, q)
    async with engine.connect() as conn:
        if is_sqlite(engine):
            return [f"{r[3]}" for r in await conn.execute(text("EXPLAIN QUERY PLAN " + sql))]
        return [r[0] for r in await conn.execute(text("EXPLAIN " + sql))]


async def old_query(engine, q: str) -> float:
    """The search before (an OR over the join): one run, wall seconds."""
    t0 = time.perf_counter()
    async with sessionmaker(engine)() as session:
        await session.execute(select(Order, Shipment).join(Shipment, Shipment.order_id == Order.id).where(or_(
            Order.number == q, func.lower(Order.email) == q.lower(), Shipment.tracking_number == q.upper()))
            .limit(50))
    return time.perf_counter() - t0


async def measure(engine, n: int, waiting: int, repeat: int) -> list[tuple[str, str, str, int, float, float, float]]:
    out = []
    maker = sessionmaker(engine)
    for key, kind, q in queries(n, waiting):
        walls, cpus, found = [], [], 0
        for _ in range(repeat):
            async with maker() as session:
                c0, w0 = time.process_time(), time.perf_counter()
                rows = await search(session, q, REGION)
                walls.append(time.perf_counter() - w0)
                cpus.append(time.process_time() - c0)
            found = len({o.number for o, _ in rows})
        if (found > 0) != (kind == "hit"):
            raise SystemExit(f"{key} {kind} {q!r}: found {found} orders")
        out.append((key, kind, q, found, statistics.median(walls) * 1000, max(walls) * 1000,
                    statistics.median(cpus) * 1000))
    return out


async def run(url: str, label: str, args) -> None:
    engine = make_engine(url)
    try:
        await upgrade(engine)
        took = await populate(engine, url, args.shipments, args.waiting)
        print(f"\n== {label}: {args.shipments:,} shipments + {args.waiting:,} orders waiting to ship "
              f"(seeded in {took:.0f} s)")
        await measure(engine, args.shipments, args.waiting, 2)  # warm the caches
        rows = await measure(engine, args.shipments, args.waiting, args.repeat)
        print(f"{'key':<24} {'':<5} {'query':<26} {'orders':>6} {'median ms':>10} {'worst ms':>9} {'cpu ms':>7}")
        for key, kind, q, found, med, worst, cpu in rows:
            print(f"{key:<24} {kind:<5} {q:<26} {found:>6} {med:>10.2f} {worst:>9.2f} {cpu:>7.2f}")
        worst = max(r[4] for r in rows)
        print(f"slowest median: {worst:.2f} ms (target < 50 ms)")
        example = f"C{args.shipments // 2}@EXAMPLE.COM"
        print(f"\nplan of the search for an email ({example!r}: every lookup of the union):")
        print("  " + compiled(engine, example).replace("\n", "\n  "))
        for line in await plan(engine, example):
            print("   ", line)
        phone = "(415) 555-0001"
        print(f"plan for a phone ({phone!r}):")
        for line in await plan(engine, phone):
            print("   ", line)
        if not args.skip_old:
            print(f"before (OR over the join), one miss: {await old_query(engine, 'nobody@example.com'):.2f} s")
    finally:
        await engine.dispose()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shipments", type=int, default=1_000_000)
    ap.add_argument("--waiting", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--pg", action="store_true", help="a fresh database on the local PostgreSQL")
    ap.add_argument("--skip-old", action="store_true", help="do not time the query search used to run")
    args = ap.parse_args()
    if args.pg:
        async with pg_database("tracker_search") as url:
            await run(url.replace("postgresql://", "postgresql+asyncpg://", 1), "PostgreSQL", args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        await run(f"sqlite+aiosqlite:///{tmp}/search.db", "SQLite", args)


if __name__ == "__main__":
    asyncio.run(main())
