"""Small helpers shared by tests (and bench/): settings on a temp database, registering orders, reading rows."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from tracker.components import load
from tracker.config import Settings
from tracker.db import sessionmaker
from tracker.models import Notification, Shipment
from tracker.orders import register, validate
from tracker.routing import accepted_carriers, router


def deep_merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def make_settings(directory: Path, database_url: str | None = None, **sections: Any) -> Settings:
    """Settings for a test: a database in `directory`, no web server, no jitter, no quiet hours, quick
    intervals taken literally (no time-of-day polling policy: the sandbox journeys ignore the time of day)."""
    data = {
        "database": {"url": database_url or f"sqlite:///{directory / 'tracker.db'}"},
        "server": {"enabled": False, "port": 0},
        "poller": {"jitter": 0, "adaptive": False},
        "carriers": {"sandbox": {"time_scale": 1}},
        "quiet_hours": {"enabled": False},  # tests about quiet hours turn it on
    }
    data = deep_merge(data, sections)
    path = directory / "config.yaml"
    text = yaml.safe_dump(data)
    path.write_text(text)
    return load(path)


async def add(daemon, order: str, tracking: str, *, carrier: str = "sandbox", email: str | None = "ana@example.com",
              phone: str | None = "+14155550101", channels: str | list[str] | None = None, locale: str = "en",
              timezone: str | None = None) -> Shipment:
    reg = validate(order_number=order, carrier=carrier, tracking_number=tracking, email=email, phone=phone,
                   locale=locale, timezone=timezone, channels=channels,
                   known_carriers=accepted_carriers(daemon.settings), route=router(daemon.settings),
                   default_channels=daemon.settings.shop.default_channels)
    async with sessionmaker(daemon.engine)() as session, session.begin():
        _, ship, _ = await register(session, reg, daemon.clock.now())
    return ship


async def notifications(engine, shipment_id: int | None = None) -> list[Notification]:
    async with sessionmaker(engine)() as session:
        stmt = select(Notification).order_by(Notification.id)
        if shipment_id is not None:
            stmt = stmt.where(Notification.shipment_id == shipment_id)
        return list((await session.execute(stmt)).scalars())


async def shipment(engine, shipment_id: int) -> Shipment:
    async with sessionmaker(engine)() as session:
        return await session.get(Shipment, shipment_id)


def sent(notes: list[Notification]) -> list[tuple[str, str]]:
    """(milestone, channel) of every notification that went out, in order."""
    return [(n.milestone, n.channel) for n in notes if n.state == "sent"]


async def seed_shipments(engine, count: int, *, tracking: str, now, carrier: str = "sandbox",
                         channels: str = "email", prefix: str = "B-", chunk: int = 1000) -> None:
    """Bulk-register `count` orders with one shipment each, all due now. `tracking` is a format string
    with {i}, e.g. "SBX-DELIVER-{i}-1764000000". Used by the scale tests and bench/."""
    import uuid

    from tracker.db import insert_ignore
    from tracker.models import Order

    async with sessionmaker(engine)() as session, session.begin():
        for lo in range(0, count, chunk):
            hi = min(count, lo + chunk)
            orders = [dict(number=f"{prefix}{i}", email=f"c{i}@example.com", phone=None, locale="en",
                           channels=channels, created_at=now) for i in range(lo, hi)]
            await session.execute(insert_ignore(engine, Order.__table__, orders, ["number"]))
            ids = dict((await session.execute(
                select(Order.number, Order.id).where(Order.number.in_([o["number"] for o in orders])))).all())
            rows = [dict(order_id=ids[f"{prefix}{i}"], carrier=carrier, source=carrier, tracking_number=tracking.format(i=i),
                         status="pending", next_check_at=now, public_token=uuid.uuid4().hex, created_at=now,
                         updated_at=now, failures=0) for i in range(lo, hi)]
            await session.execute(insert_ignore(engine, Shipment.__table__, rows, ["carrier", "tracking_number"]))


async def walk(daemon, clock, hours: int, step=None) -> None:
    """Run everything due, then move the fake clock on (an hour by default), `hours` times; then once more."""
    from datetime import timedelta

    step = step or timedelta(hours=1)
    for _ in range(hours):
        await daemon.run_once()
        clock.advance(step)
    await daemon.run_once()


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of a /metrics answer (labels in any order), None where it is absent."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None
