"""Where the database's schema stands and how it moves: one transaction per migration, repairs of the
states earlier releases left behind, the record of which tracker upgraded it, and the refusal of a
database newer than this code.

Everything here runs on a synchronous SQLAlchemy connection (tracker.db hands one over through
run_sync). On SQLite that connection is made for migrations (tracker.db.migration_engine): the driver
begins nothing by itself, tracker emits BEGIN IMMEDIATE, and foreign keys are off for the whole
connection, because SQLite ignores the pragma inside a transaction and a batch migration drops and
re-creates tables that other tables point at. `PRAGMA foreign_key_check` runs before each commit instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory

from tracker import version

MIGRATIONS = Path(__file__).with_name("migrations")
HISTORY = "schema_history"  # one row per migration applied since release_1: which tracker applied it, when


class SchemaError(Exception):
    """The schema cannot be used or moved; the message is one line naming the fix."""


class MigrationFailed(SchemaError):
    """A migration failed and was rolled back: the database is as it was before it."""


class SchemaNewer(SchemaError):
    """The database was upgraded by a newer tracker than this one."""


class SchemaBehind(SchemaError):
    """Migrations are pending and this command does not apply them."""


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    return script().get_current_head()


@dataclass
class Status:
    """The schema as this code sees it."""

    revisions: tuple[str, ...]  # the version rows (several only in a database an old release left so)
    head: str
    pending: list[str] = field(default_factory=list)  # oldest first
    unknown: tuple[str, ...] = ()  # revisions this code does not have: a newer release's
    upgraded_by: str | None = None  # the tracker version that applied the newest revision, where recorded
    history: list[tuple[str, str, datetime]] = field(default_factory=list)  # (revision, version, when), newest first

    @property
    def state(self) -> str:
        if self.unknown:
            return "newer"
        if self.pending:
            return "empty" if not self.revisions else "behind"
        return "current"

    @property
    def current(self) -> str:
        return ", ".join(self.revisions) or "none (empty database)"

    def newer_error(self) -> SchemaNewer:
        rev = ", ".join(self.unknown)
        if self.upgraded_by:
            return SchemaNewer(f"database: this database was upgraded by tracker {self.upgraded_by} (schema {rev}); "
                               f"this is tracker {version.VERSION}, which knows schemas up to {self.head}. "
                               f"Fix: run tracker {self.upgraded_by} or newer.")
        return SchemaNewer(f"database: this database has schema {rev}, newer than this tracker {version.VERSION} "
                           f"knows (up to {self.head}). Fix: run the tracker release that upgraded it, or newer.")

    def behind_error(self) -> SchemaBehind:
        return SchemaBehind(f"database: schema {self.current} needs {len(self.pending)} migration(s) to {self.head} "
                            f"for tracker {version.VERSION}. Fix: back it up, then run `tracker db upgrade` "
                            "(or start `tracker run` with database.auto_upgrade on).")


def version_rows(conn: sa.Connection) -> tuple[str, ...]:
    if not sa.inspect(conn).has_table("alembic_version"):
        return ()
    return tuple(sorted(r for (r,) in conn.exec_driver_sql("SELECT version_num FROM alembic_version")))


def status(conn: sa.Connection) -> Status:
    scripts = script()
    rows = version_rows(conn)
    known = {s.revision for s in scripts.walk_revisions()}
    st = Status(revisions=rows, head=scripts.get_current_head(), unknown=tuple(r for r in rows if r not in known))
    if sa.inspect(conn).has_table(HISTORY):
        st.history = [(r, v, _aware(t)) for r, v, t in conn.exec_driver_sql(
            f"SELECT revision, tracker_version, applied_at FROM {HISTORY} ORDER BY id DESC LIMIT 20")]
        recorded = {r: v for r, v, _ in reversed(st.history)}
        st.upgraded_by = next((recorded[r] for r in rows if r in recorded), None)
    if not st.unknown:
        st.pending = [s.revision for s in reversed(list(scripts.iterate_revisions("heads", _lower(scripts, rows))))]
    return st


def _lower(scripts: ScriptDirectory, rows: tuple[str, ...]) -> str:
    if not rows:
        return "base"
    if len(rows) == 1:
        return rows[0]
    return _newest(scripts, rows)


def _newest(scripts: ScriptDirectory, rows) -> str:
    """Of several version rows on one line of history, the newest (the others are its ancestors)."""
    for r in rows:
        ancestors = {s.revision for s in scripts.iterate_revisions(r, "base")}
        if set(rows) <= ancestors:
            return r
    raise SchemaError(f"database: the version rows {', '.join(rows)} are not on one line of history. "
                      "Fix: restore the backup taken before the last upgrade.")


def _aware(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


# --- upgrade ------------------------------------------------------------------------------------

def upgrade(conn: sa.Connection, target: str = "head") -> list[str]:
    """Apply every pending migration up to `target`, each in its own transaction; returns what was done,
    one line each. A migration that fails is rolled back whole and raises MigrationFailed."""
    sqlite = conn.dialect.name == "sqlite"
    done: list[str] = []
    scripts = script()
    wanted = {s.revision for s in scripts.iterate_revisions(target, "base")}
    with conn.begin():
        st = status(conn)
        if st.unknown:
            raise st.newer_error()
        if sqlite:
            done += repair_stranded(conn)
        done += collapse_version_rows(conn)
        pending = [rev for rev in status(conn).pending if rev in wanted]
        before = version_rows(conn)
    for rev in pending:
        try:
            with conn.begin():
                cfg = alembic_config()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, rev)
                if sqlite:
                    _foreign_key_check(conn, rev)
                record(conn, rev)
        except SchemaError:
            raise
        except Exception as exc:
            raise failed(scripts, rev, before, exc) from exc
        done.append(f"applied {rev}: {scripts.get_revision(rev).doc}")
        before = (rev,)
    return done


def failed(scripts: ScriptDirectory, rev: str, before: tuple[str, ...], exc: BaseException) -> MigrationFailed:
    why = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return MigrationFailed(
        f"database: migration {rev} ({scripts.get_revision(rev).doc}) failed and was rolled back: {why[:300]}. "
        f"The database is as it was before it (schema {', '.join(before) or 'empty'}). Fix: correct what the "
        "error names and run `tracker db upgrade` again; if it names nothing of yours, keep running the "
        "release you had and report this line.")


def record(conn: sa.Connection, rev: str) -> None:
    if sa.inspect(conn).has_table(HISTORY):
        conn.execute(sa.text(f"INSERT INTO {HISTORY} (revision, tracker_version, applied_at) "
                             "VALUES (:r, :v, :t)"),
                     {"r": rev, "v": version.describe()[:64], "t": _stored_now(conn)})


def _stored_now(conn: sa.Connection):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return now.replace(tzinfo=None).isoformat(" ") if conn.dialect.name == "sqlite" else now


def _foreign_key_check(conn: sa.Connection, rev: str) -> None:
    problems = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    if problems:
        table, rowid, parent, _ = problems[0]
        raise SchemaError(
            f"database: migration {rev} was rolled back: {len(problems)} row(s) point at missing rows "
            f"(first: {table} row {rowid} -> {parent}). Fix: `tracker db check` lists them; repair or delete "
            "those rows, then run `tracker db upgrade` again.")


# --- repairs of what earlier releases left ------------------------------------------------------

# What each migration before push_1 and push_1 itself add. Releases up to 0.1.0 ran SQLite migrations
# with foreign keys on and no transaction around DDL: on a populated database push_1 failed in its batch
# copy (DROP TABLE shipments), the DDL of the migrations before it stayed applied, and the version row
# stayed where it was. Every later try then failed on what was already there.
STRANDED_STEPS: list[tuple[str, list[tuple[str, ...]]]] = [
    ("0005", [("table", "ratings"), ("column", "alerts", "emailed_at"), ("column", "alerts", "posted_at"),
              ("column", "alerts", "notify_attempts"), ("column", "alerts", "notify_after"),
              ("column", "alerts", "notify_error"), ("column", "shipments", "pickup_until")]),
    ("0003", [("table", "api_keys"), ("column", "shipments", "stopped_at"), ("column", "shipments", "stopped_by")]),
    ("push_1", [("column", "shipments", "source"), ("column", "shipments", "push_heard_at"),
                ("table", "source_subscriptions"), ("table", "source_states")]),
]


def repair_stranded(conn: sa.Connection) -> list[str]:
    """A SQLite database stranded by that bug: migrations found whole are recorded as applied; one found in
    part (push_1's first columns) has those parts taken out again, so that it runs whole next."""
    rows = version_rows(conn)
    order = ["0001"] + [rev for rev, _ in STRANDED_STEPS]
    if len(rows) != 1 or rows[0] not in order[:-1]:
        return []
    done = []
    for rev, parts in STRANDED_STEPS[order.index(rows[0]):]:
        present = [p for p in parts if _exists(conn, p)]
        if len(present) == len(parts):
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": rev})
            done.append(f"repaired: {rev} was applied but not recorded (stranded by an earlier release)")
            continue
        if present:
            _take_out(conn, present)
            done.append(f"repaired: the part of {rev} an earlier release left applied was taken out "
                        f"({', '.join('.'.join(p[1:]) for p in present)}); {rev} runs whole now")
        break
    return done


def _exists(conn: sa.Connection, part: tuple[str, ...]) -> bool:
    insp = sa.inspect(conn)
    if part[0] == "table":
        return insp.has_table(part[1])
    return insp.has_table(part[1]) and part[2] in {c["name"] for c in insp.get_columns(part[1])}


def _take_out(conn: sa.Connection, parts: list[tuple[str, ...]]) -> None:
    ops = Operations(MigrationContext.configure(conn))
    for part in parts:
        if part[0] == "table":
            if conn.execute(sa.text(f'SELECT count(*) FROM "{part[1]}"')).scalar_one():
                raise SchemaError(f"database: table {part[1]} of a half-applied migration holds rows. Fix: "
                                  "restore the backup taken before the failed upgrade, then run `tracker db upgrade`.")
            ops.drop_table(part[1])
    columns: dict[str, list[str]] = {}
    for part in parts:
        if part[0] == "column":
            columns.setdefault(part[1], []).append(part[2])
    insp = sa.inspect(conn)
    for table, names in columns.items():
        with ops.batch_alter_table(table) as batch:
            for index in insp.get_indexes(table):
                if set(index["column_names"]) & set(names):
                    batch.drop_index(index["name"])
            for name in names:
                batch.drop_column(name)


def collapse_version_rows(conn: sa.Connection) -> list[str]:
    """Several version rows on one line of history (alembic `upgrade heads` at the one commit of main that
    had two heads): keep the newest."""
    rows = version_rows(conn)
    if len(rows) < 2:
        return []
    newest = _newest(script(), rows)
    conn.execute(sa.text("DELETE FROM alembic_version WHERE version_num != :r"), {"r": newest})
    return [f"repaired: version rows {', '.join(rows)} collapsed to {newest}"]


# --- checks -------------------------------------------------------------------------------------

def check(conn: sa.Connection) -> list[str]:
    """Every problem `tracker db check` reports, one line each (empty: all is well)."""
    from alembic.autogenerate import compare_metadata
    from sqlmodel import SQLModel

    import tracker.models  # noqa: F401  (registers the tables)

    st = status(conn)
    if st.state == "newer":
        return [str(st.newer_error())]
    if st.state != "current":
        return [str(st.behind_error())]
    problems = []
    for diff in compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata):
        for d in diff if isinstance(diff, list) else [diff]:
            problems.append(f"database: schema differs from this tracker's models: {_describe_diff(d)}. Fix: "
                            "restore a backup, or report this line.")
    if conn.dialect.name == "sqlite":
        for table, rowid, parent, _ in conn.exec_driver_sql("PRAGMA foreign_key_check"):
            problems.append(f"database: {table} row {rowid} points at a missing row of {parent}. Fix: repair or "
                            "delete that row.")
        (integrity,) = conn.exec_driver_sql("PRAGMA quick_check").one()
        if integrity != "ok":
            problems.append(f"database: SQLite quick_check: {integrity}. Fix: restore the latest backup.")
    return problems


def _describe_diff(d) -> str:
    kind = d[0]
    rest = [getattr(x, "name", None) or str(x) for x in d[1:] if x is not None]
    return f"{kind} {' '.join(str(r) for r in rest)[:200]}"
