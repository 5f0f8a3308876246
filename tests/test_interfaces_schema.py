"""Migration 0003 mirrors the models it adds (API keys, stopped shipments), and `tracker status` says when
tracking was stopped."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from tests.helpers import add, make_settings
from tracker.db import make_engine, upgrade
from tracker.story import order_story
from tracker.web import common


async def test_migrations_match_the_models(tmp_path):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": True}), SQLModel.metadata))
    finally:
        await engine.dispose()
    assert diff == []


async def test_status_says_tracking_was_stopped(tmp_path, start_daemon):
    daemon = await start_daemon(make_settings(tmp_path))
    ship = await add(daemon, "ORDER-5", "SBX-DELIVER-5")
    await common.stop(daemon, ship.id, "support:maria")
    text = await order_story(daemon.engine, "ORDER-5", daemon.settings)
    assert "TRACKING STOPPED" in text and "support:maria" in text and "no further checks" in text
