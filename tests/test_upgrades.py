"""Every schema state ever on main, populated by its own release, upgrades in place to the newest on SQLite
and PostgreSQL with every row kept; the upgraded schema is the one a new database gets; the new daemon
then works on it. Databases an older release stranded are repaired by the next upgrade."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import tracker.models  # noqa: F401
from tests.helpers import make_settings
from tests.upgrade_fixtures import (
    MANIFEST,
    copy_sqlite,
    lost,
    postgres_fixtures,
    restore_postgres,
    snapshot,
    sqlite_fixtures,
)
from tracker.config import async_url
from tracker.db import current_revision, head_revision, make_engine, schema_status, upgrade

SQLITE = sqlite_fixtures()
POSTGRES = postgres_fixtures()


def test_the_fixtures_cover_every_state_the_manifest_lists():
    states = [e for e in MANIFEST if "heads" in e]
    assert len(states) >= 10 and all(e.get("postgresql") for e in states)
    assert [e["heads"] for e in states[:3]] == [["0001"], ["0005"], ["0003"]]
    assert {e["folder"] for e in MANIFEST if "stranded" in e} == {e["folder"] for e in states[:3]}
    two_heads = [e for e in MANIFEST if "error" in e]
    assert len(two_heads) == 1 and "Multiple head revisions" in two_heads[0]["error"]
    for e in states:  # populated: orders, several parcels, events, every notification state, keys, alerts
        counts = e["counts"]
        assert counts["orders"] >= 9 and counts["shipments"] >= 11 and counts["tracking_events"] >= 20
        assert all(n >= 2 for n in counts.values()), counts


async def _diff(engine) -> list:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: compare_metadata(
            MigrationContext.configure(c, opts={"compare_type": True}), SQLModel.metadata))


async def _upgraded_and_working(url: str, tmp_path, clock, start_daemon, reference: str | None = None) -> None:
    before = await snapshot(reference or url)
    engine = make_engine(url)
    try:
        was = await current_revision(engine)
        done = await upgrade(engine)
        assert done or was == head_revision(), "nothing was applied"  # the newest state is already the head
        status = await schema_status(engine)
        assert status.state == "current" and status.revisions == (head_revision(),)
        assert await _diff(engine) == []  # the same schema a new database gets
        assert await upgrade(engine) == []  # and a second run has nothing to do
    finally:
        await engine.dispose()
    after = await snapshot(url)
    assert lost(before, after) == []
    assert sum(len(rows) for rows in after.values()) >= sum(len(rows) for rows in before.values())
    # the new daemon picks the old work up: polls the old shipments, sends what is due
    settings = make_settings(tmp_path, database_url=url, channels={"sms": {"provider": "console"},
                                                                   "email": {"provider": "console"}})
    clock.set(datetime(2027, 6, 1, 12, 0, tzinfo=timezone.utc))  # after every fixture's journeys began
    daemon = await start_daemon(settings)
    totals = await daemon.run_once()
    assert totals["checked"] >= (1 if before.get("shipments") else 0)


@pytest.mark.parametrize("name,fixture,reference", SQLITE, ids=[n for n, _, _ in SQLITE])
async def test_every_sqlite_fixture_upgrades_with_every_row_kept(name, fixture, reference, tmp_path, clock,
                                                                 start_daemon):
    path = copy_sqlite(fixture, tmp_path)
    await _upgraded_and_working(f"sqlite+aiosqlite:///{path}", tmp_path, clock, start_daemon,
                                reference=f"sqlite+aiosqlite:///{reference}")


@pytest.mark.postgres
@pytest.mark.parametrize("name,dump", POSTGRES, ids=[n for n, _ in POSTGRES])
async def test_every_postgresql_fixture_upgrades_with_every_row_kept(name, dump, pg_url, tmp_path, clock,
                                                                     start_daemon):
    await restore_postgres(dump, pg_url)
    await _upgraded_and_working(async_url(pg_url, None), tmp_path, clock, start_daemon)
