"""The files tracker writes (config, SQLite database with its WAL and shared memory, backups) hold
customer data and the key that signs customer links: readable by their owner only."""

from __future__ import annotations

import os
from pathlib import Path

GROUP_AND_OTHERS = 0o077


def owner_only_umask() -> None:
    """Every file this process creates from now on is the owner's alone (the umask keeps its other bits)."""
    current = os.umask(0)
    os.umask(current | GROUP_AND_OTHERS)


def sqlite_files(async_url: str) -> list[Path]:
    """The database file of a SQLite URL and the files SQLite keeps beside it; [] for a server or :memory:."""
    if not async_url.startswith("sqlite") or ":memory:" in async_url:
        return []
    db = Path(async_url.partition(":///")[2])
    return [db] + [db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def make_owner_only(paths: list[Path]) -> list[Path]:
    """Take group and others' access away from each existing file that has it; the files changed."""
    changed = []
    for path in paths:
        try:
            mode = path.stat().st_mode & 0o777
            if mode & GROUP_AND_OTHERS:
                path.chmod(mode & ~GROUP_AND_OTHERS)
                changed.append(path)
        except FileNotFoundError:
            continue
    return changed
