"""`tracker db backup`: a consistent copy of a SQLite database, taken with SQLite's online backup while the
daemon may be writing (WAL readers never block the writer). The copy is one self-contained file (its own
journal, no -wal beside it), readable only by its owner, written under a temporary name and renamed
once complete and checked. PostgreSQL is backed up with its own tools (pg_dump), as README says."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime
from pathlib import Path


class BackupError(Exception):
    """One line naming what is wrong and the fix."""


def sqlite(url: str, to: str | None, now: datetime) -> tuple[Path, int]:
    if not url.startswith("sqlite"):
        raise BackupError("database.url: `tracker db backup` copies SQLite databases; back PostgreSQL up with "
                          "its own tools. Fix: pg_dump --format=custom --file=tracker-$(date -u +%Y%m%dT%H%M%SZ).dump "
                          "\"$DATABASE_URL\" (README: Upgrades and backups).")
    source = Path(url.split(":///", 1)[1])
    if not source.is_file():
        raise BackupError(f"database.url: there is no SQLite file at {source}. Fix: correct database.url.")
    name = f"{source.stem}-{now:%Y%m%dT%H%M%SZ}.backup{source.suffix or '.db'}"
    target = Path(to) / name if to and Path(to).is_dir() else Path(to) if to else source.with_name(name)
    if target.exists():
        raise BackupError(f"--to: {target} exists; a backup never overwrites a file. Fix: give another path.")
    partial = target.with_name(target.name + ".partial")
    try:
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise BackupError(f"--to: cannot write {partial} ({exc.strerror}). Fix: give a writable folder.") from None
    try:
        src = sqlite3.connect(source, timeout=30)
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
            (result,) = dst.execute("PRAGMA quick_check").fetchone()
            if result != "ok":
                raise BackupError(f"database: the copy fails SQLite's quick_check ({result}); nothing kept. "
                                  "Fix: run `tracker db check` on the database.")
        finally:
            dst.close()
            src.close()
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise BackupError(f"database: the backup failed ({exc}); nothing kept. Fix: free disk space or "
                          "check the file's permissions, then try again.") from None
    finally:
        partial.unlink(missing_ok=True)
    return target, target.stat().st_size
