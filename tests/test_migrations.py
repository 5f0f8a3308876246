"""The Alembic migrations build exactly the schema the models describe, on SQLite and on PostgreSQL."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import tracker.models  # noqa: F401
from tracker.config import async_url
from tracker.db import current_revision, head_revision, make_engine, upgrade


async def migrate_and_diff(url: str):
    engine = make_engine(url)
    try:
        await upgrade(engine)
        await upgrade(engine)  # a second run is a no-op
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}),
                                           SQLModel.metadata))
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        return diff, tables, await current_revision(engine)
    finally:
        await engine.dispose()


EXPECTED = {"orders", "shipments", "tracking_events", "notifications", "suppressions", "alerts", "carrier_states",
            "source_subscriptions", "source_states", "carrier_codes",
            "webhook_events", "alembic_version"}


async def test_migrations_on_sqlite(tmp_path):
    diff, tables, revision = await migrate_and_diff(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    assert diff == []
    assert EXPECTED <= tables
    assert revision == head_revision()


@pytest.mark.postgres
async def test_migrations_on_postgresql(pg_url):
    diff, tables, revision = await migrate_and_diff(async_url(pg_url, None))
    assert diff == []
    assert EXPECTED <= tables
    assert revision == head_revision()


@pytest.mark.postgres
async def test_the_flow_runs_on_postgresql(pg_url, tmp_path, start_daemon, clock):
    """Same daemon, same milestones, on PostgreSQL (claims use FOR UPDATE SKIP LOCKED there)."""
    from datetime import timedelta

    from tests.helpers import add, make_settings, notifications, sent

    settings = make_settings(tmp_path, database_url=pg_url,
                             poller={"intervals": {"info_received": 3600, "in_transit": 3600,
                                                   "out_for_delivery": 3600}})
    daemon = await start_daemon(settings)
    ship = await add(daemon, "ORDER-PG", "SBX-DELIVER-1", channels="sms")
    for _ in range(40):
        await daemon.run_once()
        clock.advance(timedelta(hours=1))
    assert sent(await notifications(daemon.engine, ship.id)) == [
        ("shipped", "sms"), ("out_for_delivery", "sms"), ("delivered", "sms")]
