"""Engines, sessions and migrations. SQLite (WAL) is the embedded default; PostgreSQL scales out."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import weakref
from collections.abc import Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import event, exc, func, literal_column
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from tracker import schema

class DatabaseLocked(Exception):
    """Another daemon already owns this SQLite file."""


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    if url.startswith("sqlite"):
        # hide_parameters: a query's values (emails, phones, tokens) never reach a log line or an error message
        engine = create_async_engine(url, echo=echo, hide_parameters=True, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # no ping at checkout (a round trip more on every commit, and a send is two commits): a connection the
    # server dropped fails one statement, SQLAlchemy then invalidates the whole pool and the caller's retry
    # reconnects; connections idle past a firewall's patience are replaced after 30 minutes
    return create_async_engine(url, echo=echo, hide_parameters=True, pool_size=10, max_overflow=10,
                               pool_recycle=1800)


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def rare(engine: AsyncEngine, clause):
    """`clause`, told to be true of few rows. SQLite's statistics keep one average per index prefix, blind to a
    table that is mostly delivered: without this it reads the whole table rather than a range of an index
    for a sweep's few due rows. PostgreSQL's statistics see the skew themselves."""
    if not is_sqlite(engine):
        return clause
    return func.likelihood(clause, literal_column("0.001"))


_WRITE_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def write_lock(engine: AsyncEngine):
    """One lock per SQLite engine for every writer in this process (poller, pushes, dispatcher, subscriber):
    SQLite has one writer at a time, and writers queued here wait in turn, where writers colliding in
    SQLite's busy handler sleep and retry (seconds under load). PostgreSQL: no lock."""
    if not is_sqlite(engine):
        return contextlib.nullcontext()
    lock = _WRITE_LOCKS.get(engine.sync_engine)
    if lock is None:
        lock = _WRITE_LOCKS[engine.sync_engine] = asyncio.Lock()
    return lock


def insert_ignore(engine: AsyncEngine, table, rows: Sequence[dict], conflict: Sequence[str], where=None):
    """INSERT ... ON CONFLICT DO NOTHING for both engines (`where`: the predicate of a partial unique index)."""
    dialect = sqlite if is_sqlite(engine) else postgresql
    return dialect.insert(table).values(list(rows)).on_conflict_do_nothing(index_elements=list(conflict),
                                                                           index_where=where)


def insert_ignore_many(engine: AsyncEngine, table, conflict: Sequence[str]):
    """INSERT ... ON CONFLICT DO NOTHING for executemany (pass the rows to execute()): unlike
    insert_ignore(), whose VALUES list changes with every call, this statement compiles once and is cached."""
    dialect = sqlite if is_sqlite(engine) else postgresql
    return dialect.insert(table).on_conflict_do_nothing(index_elements=list(conflict))


class DatabaseUnreachable(Exception):
    """The database named in database.url cannot be reached or refuses us; the message names the address."""


def describe(engine: AsyncEngine) -> str:
    """Where the database is, for people (never the password)."""
    url = engine.url
    if is_sqlite(engine):
        return f"the SQLite file {url.database}"
    return f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432} (database {url.database}, user {url.username})"


@asynccontextmanager
async def connection(engine: AsyncEngine):
    """A connection, or DatabaseUnreachable naming the address tried and why."""
    conn = engine.connect()
    try:
        await conn.start()
    except (OSError, TimeoutError, exc.DBAPIError) as error:
        reason = error.orig if isinstance(error, exc.DBAPIError) else error
        why = (getattr(reason, "strerror", None) or str(reason).splitlines()[0] if str(reason) else
               type(reason).__name__)
        fix = ("make sure the file's directory exists and is writable, or correct database.url" if is_sqlite(engine)
               else "start the database server or correct database.url (host, port, database, user, password)")
        raise DatabaseUnreachable(f"database.url: cannot connect to {describe(engine)}: {why}. Fix: {fix}.") from None
    try:
        yield conn
    finally:
        await conn.close()


def migration_engine(engine: AsyncEngine) -> AsyncEngine:
    """A SQLite engine for migrations only (SQLAlchemy's documented recipe for pysqlite/aiosqlite): the
    driver begins nothing by itself and every transaction is a BEGIN IMMEDIATE of ours, so DDL is inside
    it and a failed migration rolls back whole; foreign keys are off for the connection (SQLite ignores the
    pragma inside a transaction), tracker.schema checks them before each commit."""
    url = engine.url.render_as_string(hide_password=False)
    migrations = create_async_engine(url, hide_parameters=True, poolclass=NullPool, connect_args={"timeout": 30})

    @event.listens_for(migrations.sync_engine, "connect")
    def _connect(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=OFF")
        cur.close()

    @event.listens_for(migrations.sync_engine, "begin")
    def _begin(conn):  # noqa: ANN001
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return migrations


async def upgrade(engine: AsyncEngine, revision: str = "head") -> list[str]:
    """Run migrations up to `revision`, each all-or-nothing (tracker.schema.upgrade); returns what was done.
    On PostgreSQL an advisory lock lets several daemons start at once: the second finds nothing to do."""
    if is_sqlite(engine) and ":memory:" not in str(engine.url):
        migrations = migration_engine(engine)
        try:
            async with connection(migrations) as conn:
                return await conn.run_sync(schema.upgrade, revision)
        finally:
            await migrations.dispose()
    async with connection(engine) as conn:
        if not is_sqlite(engine):
            await conn.exec_driver_sql("SELECT pg_advisory_lock(7263510)")
            await conn.commit()
        try:
            return await conn.run_sync(schema.upgrade, revision)
        finally:
            if not is_sqlite(engine) and not conn.closed and not conn.invalidated:
                await conn.rollback()
                await conn.exec_driver_sql("SELECT pg_advisory_unlock(7263510)")
                await conn.commit()


async def schema_status(engine: AsyncEngine) -> schema.Status:
    async with connection(engine) as conn:
        return await conn.run_sync(schema.status)


async def current_revision(engine: AsyncEngine) -> str | None:
    st = await schema_status(engine)
    return ", ".join(st.revisions) or None


def head_revision() -> str:
    return schema.head_revision()


class SqliteLock:
    """One daemon per SQLite file: an advisory lock next to the database, released by the OS on crash."""

    def __init__(self, url: str) -> None:
        path = url.split(":///", 1)[1]
        self.path = Path(path + ".lock")
        self.db_path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DatabaseLocked(
                f"another tracker daemon (pid {holder}) is already running on {self.db_path}. "
                "Fix: stop it first, or use PostgreSQL (database.url) to run several daemons."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@asynccontextmanager
async def session_scope(maker: async_sessionmaker[AsyncSession]):
    async with maker() as session, session.begin():
        yield session
