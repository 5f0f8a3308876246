"""The upgrade fixtures (tests/fixtures/schemas, built by its build.py from every schema state ever on main):
where they are, how to open one, and every row of a database to compare before and after an upgrade."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import asyncpg
import sqlalchemy as sa

from tracker.db import make_engine

SCHEMAS = Path(__file__).with_name("fixtures") / "schemas"
MANIFEST = json.loads((SCHEMAS / "manifest.json").read_text())
# (table, column) deliberately dropped by a migration, with the revision that dropped it: none so far.
DROPPED: dict[tuple[str, str], str] = {}


def sqlite_fixtures() -> list[tuple[str, Path, Path]]:
    """(name, file, reference) of every SQLite fixture: each state's own database, and those an older
    release stranded or upgraded half-way; the reference holds the rows the shop had (the state's own
    database: a stranded one also holds the half of a migration, whose values are no one's)."""
    out = []
    for entry in MANIFEST:
        own = SCHEMAS / entry["folder"] / "sqlite.db"
        for kind in ("sqlite", "stranded", "upgraded"):
            given = entry.get(kind)
            if given:
                name = given if isinstance(given, str) else given["file"]
                out.append((f"{entry['folder']}/{name}", SCHEMAS / entry["folder"] / name, own))
    return out


def postgres_fixtures() -> list[tuple[str, Path]]:
    return [(entry["folder"], SCHEMAS / entry["folder"] / entry["postgresql"]) for entry in MANIFEST
            if entry.get("postgresql")]


def copy_sqlite(source: Path, directory: Path) -> Path:
    target = directory / "tracker.db"
    shutil.copy(source, target)
    return target


async def restore_postgres(dump: Path, url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(dump.read_text())
    finally:
        await conn.close()


async def snapshot(url: str) -> dict[str, dict]:
    """{table: {primary key: {column: value}}} of every table but alembic_version, values as stored."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_snapshot)
    finally:
        await engine.dispose()


def _snapshot(conn) -> dict[str, dict]:
    insp = sa.inspect(conn)
    out = {}
    for table in insp.get_table_names():
        if table == "alembic_version":
            continue
        key = insp.get_pk_constraint(table)["constrained_columns"]
        rows = conn.exec_driver_sql(f'SELECT * FROM "{table}"').mappings().all()
        out[table] = {tuple(r[k] for k in key): dict(r) for r in rows}
    return out


def lost(before: dict[str, dict], after: dict[str, dict]) -> list[str]:
    """What an upgrade lost: a table, a row, or a value of a column it kept."""
    problems = []
    for table, rows in before.items():
        if table not in after:
            problems.append(f"table {table} gone ({len(rows)} rows)")
            continue
        for key, row in rows.items():
            new = after[table].get(key)
            if new is None:
                problems.append(f"{table} {key}: row gone")
                continue
            for column, value in row.items():
                if (table, column) in DROPPED:
                    continue
                if column not in new:
                    problems.append(f"{table}.{column}: column gone")
                elif new[column] != value:
                    problems.append(f"{table} {key}.{column}: {value!r} became {new[column]!r}")
    return problems
