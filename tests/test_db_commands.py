"""`tracker db current`, `db check`, `db backup` and `db upgrade` as an operator runs them."""

from __future__ import annotations

import re
import sqlite3
import stat

import yaml

from tests.test_cli import config  # noqa: F401  (the fixture: a SQLite config in tmp_path, cwd there)
from tests.upgrade_fixtures import SCHEMAS
from tracker.cli import main
from tracker.db import head_revision

HEAD = head_revision()


def after(revision: str) -> list[str]:
    """The revisions after `revision` up to the head, oldest first."""
    from tracker.schema import script

    return [r.revision for r in script().iterate_revisions("heads", revision)][::-1]


def add(n: int) -> None:
    assert main(["add", "--order", f"ORDER-{n}", "--carrier", "sandbox", "--tracking", f"SBX-DELIVER-{n}",
                 "--email", "ana@example.com"]) == 0


def test_current_and_check_on_a_new_database(config, capsys):
    assert main(["init"]) == 0
    capsys.readouterr()
    assert main(["db", "current"]) == 0
    out = capsys.readouterr().out
    assert f"schema: {HEAD} (upgraded by tracker 0.2.0" in out and "state: up to date" in out
    assert re.search(rf"\b{HEAD} +applied by tracker 0\.2\.0", out), out  # the history, newest first
    assert main(["db", "check"]) == 0
    assert f"database OK: schema {HEAD}" in capsys.readouterr().out


def test_check_names_what_differs_and_rows_pointing_nowhere(config, tmp_path, capsys):
    add(1)
    conn = sqlite3.connect(tmp_path / "tracker.db")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("UPDATE shipments SET order_id = 999")
    conn.execute("DROP INDEX ix_shipments_source")
    conn.commit()
    conn.close()
    capsys.readouterr()
    assert main(["db", "check"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert any("schema differs from this tracker's models: add_index ix_shipments_source" in ln for ln in err), err
    assert any("shipments row 1 points at a missing row of orders" in ln for ln in err), err


def test_a_read_only_command_never_migrates_an_older_database(config, tmp_path, capsys):
    import shutil

    shutil.copy(SCHEMAS / "10-3032d2f" / "sqlite.db", tmp_path / "tracker.db")
    assert main(["status", "PEDIDO-1001"]) == 2
    err = capsys.readouterr().err
    pending = after("operator_1")  # parcels_1, release_1 and whatever main has added since
    assert err.startswith(f"tracker: database: schema operator_1 needs {len(pending)} migration(s) to {HEAD}")
    assert "\n" == err[-1]
    assert "Fix: back it up, then run `tracker db upgrade`" in err
    conn = sqlite3.connect(tmp_path / "tracker.db")
    assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("operator_1",)]
    conn.close()
    assert main(["db", "current"]) == 0
    assert f"{len(pending)} migration(s) pending: {', '.join(pending)}" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    out = capsys.readouterr().out
    assert "applied parcels_1" in out and "applied release_1" in out and f"up to date ({HEAD}" in out
    assert main(["status", "PEDIDO-1001"]) == 0


def test_backup_is_a_consistent_private_single_file_while_a_writer_holds_the_database(config, tmp_path, capsys):
    add(1)
    add(2)
    writer = sqlite3.connect(tmp_path / "tracker.db", isolation_level=None)  # a daemon mid-transaction
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE orders SET locale = 'es' WHERE number = 'ORDER-1'")
    capsys.readouterr()
    try:
        assert main(["db", "backup", "--to", str(tmp_path)]) == 0
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    out = capsys.readouterr().out
    assert out.startswith(f"wrote {tmp_path}/tracker-") and ".backup.db (" in out
    [copy] = tmp_path.glob("tracker-*.backup.db")
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert not list(tmp_path.glob("*.backup.db-wal")) and not list(tmp_path.glob("*.partial"))
    conn = sqlite3.connect(copy)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert conn.execute("SELECT number, locale FROM orders ORDER BY number").fetchall() == [
        ("ORDER-1", "en"), ("ORDER-2", "en")]  # what was committed, not the writer's open change
    conn.close()
    assert main(["db", "backup", "--to", str(copy)]) == 2
    assert "never overwrites a file" in capsys.readouterr().err


def test_backup_of_postgresql_names_pg_dump(tmp_path, monkeypatch, capsys):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"database": {"url": "postgresql://tracker@db.internal:5432/tracker"}}))
    assert main(["--config", str(path), "db", "backup"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pg_dump --format=custom" in err


def test_two_version_rows_on_one_line_of_history_collapse_to_the_newest(config, tmp_path, capsys):
    """What `alembic upgrade heads` by hand at the two-head commit (a828a8e) would have recorded."""
    import shutil

    shutil.copy(SCHEMAS / "09-e48d021" / "sqlite.db", tmp_path / "tracker.db")
    conn = sqlite3.connect(tmp_path / "tracker.db")
    conn.execute("INSERT INTO alembic_version VALUES ('channels_1')")
    conn.commit()
    conn.close()
    assert main(["db", "upgrade"]) == 0
    out = capsys.readouterr().out
    assert "repaired: version rows channels_1, detect_1 collapsed to detect_1" in out and "applied release_1" in out
    assert main(["db", "check"]) == 0
