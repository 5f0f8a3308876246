"""`tracker apikey ...` and `tracker support hash-password`."""

from __future__ import annotations

import asyncio
import io

from tests.helpers import make_settings
from tracker import apikeys
from tracker.cli import main
from tracker.db import make_engine


async def _check(settings, key):
    engine = make_engine(settings.async_database_url)
    try:
        from datetime import datetime, timezone
        return await apikeys.check_key(engine, key, datetime.now(timezone.utc))
    finally:
        await engine.dispose()


def test_apikey_create_list_revoke(tmp_path, capsys):
    settings = make_settings(tmp_path)
    config = str(tmp_path / "config.yaml")
    assert main(["--config", config, "apikey", "create", "my-shop"]) == 0
    out, err = capsys.readouterr()
    key = out.strip()
    assert key.startswith("trk_") and len(key) > 40 and "shown only this once" in err
    assert asyncio.run(_check(settings, key)) == "my-shop"
    assert main(["--config", config, "apikey", "create", "my-shop"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["--config", config, "apikey", "list"]) == 0
    out = capsys.readouterr().out
    assert "my-shop" in out and "live" in out and key not in out  # never the key itself
    assert main(["--config", config, "apikey", "revoke", "my-shop"]) == 0
    capsys.readouterr()
    assert asyncio.run(_check(settings, key)) is None
    assert main(["--config", config, "apikey", "revoke", "my-shop"]) == 2


def test_hash_password_makes_a_hash_the_console_accepts(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["support", "hash-password", "--stdin"]) == 0
    stored = capsys.readouterr().out.strip()
    assert stored.startswith("scrypt$") and "a long enough password" not in stored
    assert apikeys.verify_password("a long enough password", stored)
    assert not apikeys.verify_password("another password", stored)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["support", "hash-password", "--stdin"]) == 2
