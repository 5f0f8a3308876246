"""A migration that fails or is killed at its worst moment leaves the database exactly as it was before that
migration; the next `tracker db upgrade` completes it. The failure is injected where a real one would
strike: a statement of the migration itself fails (or the process is SIGKILLed) after push_1 has dropped
the old shipments table and before the copy takes its name, on a populated database of that time."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.upgrade_fixtures import SCHEMAS, copy_sqlite, restore_postgres, snapshot
from tracker.cli import main as cli
from tracker.config import async_url
from tracker.db import make_engine, schema_status, upgrade
from tracker.schema import MigrationFailed

AT_0003 = SCHEMAS / "03-72ff6b8"
WORST_SQLITE = "ALTER TABLE _alembic_tmp_shipments RENAME TO shipments"  # the old table is gone by then


def schema_of(path) -> dict:
    conn = sqlite3.connect(path)
    try:
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: (sorted(conn.execute(f"PRAGMA table_info('{t}')")), sorted(conn.execute(f"PRAGMA index_list('{t}')")),
                    sorted(conn.execute(f"PRAGMA foreign_key_list('{t}')"))) for t in tables}
    finally:
        conn.close()


def version_of(path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r for (r,) in conn.execute("SELECT version_num FROM alembic_version")]
    finally:
        conn.close()


class Injected(Exception):
    pass


def fail_at(prefix: str):
    def listener(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if statement.strip().startswith(prefix):
            raise Injected(f"injected failure at: {prefix}")
    return listener


async def test_a_failing_sqlite_migration_leaves_the_database_as_it_was(tmp_path):
    path = copy_sqlite(AT_0003 / "sqlite.db", tmp_path)
    url = f"sqlite+aiosqlite:///{path}"
    rows, shape = await snapshot(url), schema_of(path)
    engine = make_engine(url)
    listener = fail_at(WORST_SQLITE)
    event.listen(Engine, "before_cursor_execute", listener)
    try:
        with pytest.raises(MigrationFailed) as failure:
            await upgrade(engine)
    finally:
        event.remove(Engine, "before_cursor_execute", listener)
    message = str(failure.value)
    assert "\n" not in message
    assert message.startswith("database: migration push_1 (tracking sources")
    assert "rolled back" in message and "as it was before it (schema 0003)" in message
    assert "Fix: " in message
    assert version_of(path) == ["0003"] and schema_of(path) == shape and await snapshot(url) == rows
    assert (await upgrade(engine))[-1].startswith("applied release_1")
    assert (await schema_status(engine)).state == "current"
    await engine.dispose()


KILLER = textwrap.dedent("""
    import os, signal, sys
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "before_cursor_execute")
    def kill(conn, cursor, statement, parameters, context, executemany):
        if statement.strip().startswith(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)

    from tracker.cli import main
    sys.exit(main(["--config", sys.argv[1], "db", "upgrade"]))
""")


def test_a_sqlite_migration_killed_at_its_worst_moment_leaves_the_database_as_it_was(tmp_path, capsys):
    path = copy_sqlite(AT_0003 / "sqlite.db", tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text(f"database:\n  url: sqlite:///{path}\n")
    rows, shape = asyncio.run(snapshot(f"sqlite+aiosqlite:///{path}")), schema_of(path)
    proc = subprocess.run([sys.executable, "-c", KILLER, str(config), WORST_SQLITE], capture_output=True, text=True,
                          timeout=120, cwd=os.getcwd())
    assert proc.returncode == -9, proc.stderr
    # the killed transaction is rolled back when the file is next opened
    assert version_of(path) == ["0003"] and schema_of(path) == shape
    assert asyncio.run(snapshot(f"sqlite+aiosqlite:///{path}")) == rows
    assert cli(["--config", str(config), "db", "upgrade"]) == 0
    out = capsys.readouterr().out
    assert "applied push_1" in out and "up to date" in out


async def test_a_foreign_key_broken_by_a_migration_rolls_it_back_naming_the_rows(tmp_path):
    path = copy_sqlite(SCHEMAS / "10-3032d2f" / "sqlite.db", tmp_path)
    conn = sqlite3.connect(path)  # a notification whose shipment is gone (written with foreign keys off)
    conn.execute("INSERT INTO notifications (shipment_id, order_id, milestone, channel, state, attempts, created_at, "
                 "updated_at, resent_in_doubt) SELECT 99999, order_id, 'late', 'email', 'queued', 0, created_at, "
                 "updated_at, 0 FROM notifications LIMIT 1")
    conn.commit()
    conn.close()
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    with pytest.raises(Exception) as failure:
        await upgrade(engine)
    await engine.dispose()
    assert "migration parcels_1 was rolled back: 1 row(s) point at missing rows (first: notifications row" in str(
        failure.value)
    assert version_of(path) == ["operator_1"]


@pytest.mark.postgres
async def test_a_failing_postgresql_migration_leaves_the_database_as_it_was(pg_url):
    await restore_postgres(AT_0003 / "postgresql.sql", pg_url)
    url = async_url(pg_url, None)
    rows = await snapshot(url)
    engine = make_engine(url)
    listener = fail_at("UPDATE shipments SET source = carrier")  # after push_1's DDL, in its transaction
    event.listen(Engine, "before_cursor_execute", listener)
    try:
        with pytest.raises(MigrationFailed) as failure:
            await upgrade(engine)
    finally:
        event.remove(Engine, "before_cursor_execute", listener)
    assert "migration push_1" in str(failure.value) and "(schema 0003)" in str(failure.value)
    async with engine.connect() as conn:
        columns = await conn.run_sync(lambda c: {c_["name"] for c_ in sa.inspect(c).get_columns("shipments")})
        tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    assert "source" not in columns and "source_subscriptions" not in tables
    assert (await schema_status(engine)).revisions == ("0003",)
    assert await snapshot(url) == rows
    await upgrade(engine)
    assert (await schema_status(engine)).state == "current"
    await engine.dispose()
