"""Fast bulk seeding for the benchmarks: orders with one shipment each, ids assigned here.
SQLite: Core executemany in big transactions. PostgreSQL: COPY through asyncpg."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta, timezone

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


# --- a shop's whole history: what the million-shipment bench (bench/scale.py) and the plan tests seed ------

MIX_ORDER_COLS = ["id", "number", "email", "phone", "locale", "channels", "created_at", "first_parcel_at"]
MIX_SHIP_COLS = ["id", "order_id", "carrier", "source", "tracking_number", "status", "status_at", "last_event_at",
                 "expected_delivery", "first_expected_delivery", "delivered_at", "next_check_at", "failures",
                 "public_token", "created_at", "updated_at"]
MIX_EVENT_COLS = ["id", "shipment_id", "key", "occurred_at", "status", "raw_code", "raw_text", "location",
                  "recorded_at"]
MIX_NOTE_COLS = ["id", "shipment_id", "order_id", "milestone", "channel", "state", "attempts", "created_at",
                 "updated_at", "sent_at", "resent_in_doubt"]
CARRIERS = ("fedex", "fedex", "fedex", "fedex", "fedex", "ups", "ups", "ups", "dhl", "dhl")


def mix_rows(lo: int, hi: int, now: datetime, carriers: tuple[str, ...] = CARRIERS,
             tracking: str = "{carrier}{i:012d}"):
    """Shipments as a shop that has run for a year holds them: 75% delivered over the past year, 2% expired,
    the rest in flight (in transit with dates, some of them late or moved; out for delivery; waiting for
    pickup; pending; problems), each with two events and its sent "shipped" email."""
    orders, ships, events, notes = [], [], [], []
    for i in range(lo, hi):
        kind = i % 100
        sid = i + 1
        carrier = carriers[i % len(carriers)]
        age = timedelta(seconds=(i * 7919) % (365 * 86400))  # spread over the year, not in id order
        if kind < 75:
            created = now - age - timedelta(days=4)
            status, last, delivered, due = "delivered", created + timedelta(days=3), created + timedelta(days=3), None
        elif kind < 77:
            created = now - age - timedelta(days=40)
            status, last, delivered, due = "expired", created + timedelta(days=1), None, None
        else:
            created = now - timedelta(seconds=(i * 104729) % (6 * 86400))
            status = ("in_transit", "in_transit", "in_transit", "in_transit", "in_transit", "in_transit",
                      "out_for_delivery", "info_received", "pending", "exception", "failed_attempt")[kind % 11]
            last = None if status == "pending" else created + (now - created) / 2
            delivered = None
            due = now + timedelta(seconds=(i * 31) % 10800) - timedelta(seconds=600)
        first = (created + timedelta(days=3)).date() if status != "pending" else None
        expected = first + timedelta(days=1) if first and kind % 7 == 0 else first  # some dates moved
        ships.append((sid, sid, carrier, carrier, tracking.format(carrier=carrier.upper(), i=i), status, last, last, expected, first,
                      delivered, due, 0, secrets.token_hex(16), created, last or created))
        orders.append((sid, f"S-{i}", f"c{i}@example.com", None, "en", "email", created, created))
        if last is not None:
            for n, (code, st, at) in enumerate([("PU", "in_transit", created + timedelta(hours=2)),
                                                ("LAST", status, last)]):
                events.append((2 * sid - 1 + n, sid, f"{code}{i}", at, st, code, "scan", "Memphis, TN", at))
            notes.append((sid, sid, sid, "shipped", "email", "sent", 1, created + timedelta(hours=2),
                          created + timedelta(hours=2), created + timedelta(hours=2, seconds=3), 0))
    return orders, ships, events, notes


async def seed_mix(engine, url: str, count: int, *, now: datetime, chunk: int = 50_000, progress=None,
                   carriers: tuple[str, ...] = CARRIERS, tracking: str = "{carrier}{i:012d}") -> None:
    """`count` orders with one shipment each, their events and notifications (mix_rows), ids assigned here."""
    from tracker.models import Notification, TrackingEventRow

    tables = [(Order.__table__, MIX_ORDER_COLS), (Shipment.__table__, MIX_SHIP_COLS),
              (TrackingEventRow.__table__, MIX_EVENT_COLS), (Notification.__table__, MIX_NOTE_COLS)]
    if is_sqlite(engine):
        # plain sqlite3 with values as SQLAlchemy stores them (naive UTC text): 20x faster than Core inserts
        import sqlite3

        def stored(v):
            if isinstance(v, datetime):
                return v.astimezone(timezone.utc).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
            return v.isoformat() if isinstance(v, date) else v

        db = sqlite3.connect(url.split(":///", 1)[1])
        try:
            with db:
                for lo in range(0, count, chunk):
                    for (table, cols), rows_ in zip(tables, mix_rows(lo, min(count, lo + chunk), now, carriers,
                                                                     tracking)):
                        db.executemany(f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES "
                                       f"({', '.join('?' * len(cols))})", [tuple(map(stored, r)) for r in rows_])
                    if progress:
                        progress(min(count, lo + chunk))
            db.execute("ANALYZE")
        finally:
            db.close()
        return
    import asyncpg
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        async with conn.transaction():
            for lo in range(0, count, chunk):
                for (table, cols), rows_ in zip(tables, mix_rows(lo, min(count, lo + chunk), now, carriers,
                                                                 tracking)):
                    if rows_:
                        await conn.copy_records_to_table(table.name, records=rows_, columns=cols)
                if progress:
                    progress(min(count, lo + chunk))
            for table in ("orders", "shipments", "tracking_events", "notifications"):
                await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                   f"(SELECT coalesce(max(id), 1) FROM {table}))")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
