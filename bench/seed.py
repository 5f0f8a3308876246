"""Fast bulk seeding for the benchmarks: orders with one shipment each, ids assigned here.
SQLite: Core executemany in big transactions. PostgreSQL: COPY through asyncpg."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import insert

from tracker.db import is_sqlite, sessionmaker
from tracker.models import Order, Shipment

ORDER_COLS = ["id", "number", "email", "phone", "locale", "channels", "created_at"]
SHIP_COLS = ["id", "order_id", "carrier", "source", "tracking_number", "status", "next_check_at", "failures",
             "public_token", "created_at", "updated_at"]


def rows(lo: int, hi: int, *, carrier: str, tracking: str, now: datetime, spread: float, channels: str,
         phone: bool, source: str | None = None):
    orders, ships = [], []
    for i in range(lo, hi):
        orders.append((i + 1, f"B-{i}", f"c{i}@example.com", f"+1415{i:07d}" if phone else None, "en",
                       channels, now))
        due = now + timedelta(seconds=spread * (i - lo) / max(1, hi - lo)) if spread else now
        ships.append((i + 1, i + 1, carrier, source or carrier, tracking.format(i=i), "pending", due, 0,
                      secrets.token_hex(16),
                      now, now))
    return orders, ships


async def seed(engine, url: str, count: int, *, carrier: str, tracking: str, now: datetime, spread: float = 0.0,
               channels: str = "email", phone: bool = False, chunk: int = 50_000, source: str | None = None) -> None:
    """`count` orders + shipments due from `now` (spread evenly over `spread` seconds per chunk when set)."""
    if is_sqlite(engine):
        async with sessionmaker(engine)() as session, session.begin():
            for lo in range(0, count, chunk):
                orders, ships = rows(lo, min(count, lo + chunk), carrier=carrier, tracking=tracking, now=now,
                                     spread=spread, channels=channels, phone=phone, source=source)
                await session.execute(insert(Order.__table__), [dict(zip(ORDER_COLS, r)) for r in orders])
                await session.execute(insert(Shipment.__table__), [dict(zip(SHIP_COLS, r)) for r in ships])
        return
    import asyncpg
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        async with conn.transaction():
            for lo in range(0, count, chunk):
                orders, ships = rows(lo, min(count, lo + chunk), carrier=carrier, tracking=tracking, now=now,
                                     spread=spread, channels=channels, phone=phone, source=source)
                await conn.copy_records_to_table("orders", records=orders, columns=ORDER_COLS)
                await conn.copy_records_to_table("shipments", records=ships, columns=SHIP_COLS)
            await conn.execute("SELECT setval(pg_get_serial_sequence('orders', 'id'), $1)", count)
            await conn.execute("SELECT setval(pg_get_serial_sequence('shipments', 'id'), $1)", count)
        await conn.execute("ANALYZE orders; ANALYZE shipments")
    finally:
        await conn.close()
