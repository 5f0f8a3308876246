"""A watchers pass over many due shipments reads their notifications, events and parcels in chunks (the
PostgreSQL driver takes at most 32,767 parameters a statement): in chunks or in one go, the pass queues the
same messages and raises the same alerts, on the pinned clock."""

from datetime import datetime, timezone

from sqlalchemy import select

from bench.seed import seed_mix
from tests.helpers import make_settings
from tracker import watch
from tracker.clock import FakeClock
from tracker.db import make_engine, sessionmaker, upgrade
from tracker.models import Alert, Notification

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


async def one_pass(tmp_path, name: str):
    url = f"sqlite+aiosqlite:///{tmp_path / name}"
    engine = make_engine(url)
    try:
        await upgrade(engine)
        await seed_mix(engine, url, 3000, now=NOW)
        settings = make_settings(tmp_path, follow_up={"enabled": True, "secret": "s" * 32})
        stats = await watch.Watcher(engine=engine, settings=settings, clock=FakeClock(NOW)).tick()
        async with sessionmaker(engine)() as s:
            notes = set((await s.execute(select(Notification.shipment_id, Notification.order_id,
                                                Notification.milestone, Notification.channel))).all())
            alerts = set((await s.execute(select(Alert.key))).scalars())
        return stats, notes, alerts
    finally:
        await engine.dispose()


async def test_a_pass_in_chunks_does_what_a_pass_in_one_go_does(tmp_path, monkeypatch):
    whole = await one_pass(tmp_path, "whole.db")
    monkeypatch.setattr(watch, "CHUNK", 7)
    chunked = await one_pass(tmp_path, "chunked.db")
    assert whole == chunked
    stats = whole[0]
    assert stats.silent and stats.late and stats.alerts and stats.follow_up  # every sweep had work
