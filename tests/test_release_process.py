"""Releases as processes meet them: a database upgraded by a newer tracker is refused in one line by every
command; a running daemon that sees the schema move under it stops claiming and exits so that the
service manager starts the new release; SIGTERM with a carrier call in flight stops without an ERROR."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time

import pytest
from aiohttp import web

from tests.procs import Daemons, daemon_config, quick_polling
from tracker.app import EXIT_SCHEMA_MOVED
from tracker.db import head_revision

pytestmark = pytest.mark.slow

FUTURE = ("future_1", "9.4.0")


def upgrade_by_a_future_release(db) -> None:
    """What a newer release leaves: a revision this code does not have, recorded with its version."""
    conn = sqlite3.connect(db)
    conn.execute("UPDATE alembic_version SET version_num = ?", (FUTURE[0],))
    conn.execute("INSERT INTO schema_history (revision, tracker_version, applied_at) VALUES (?, ?, ?)",
                 (FUTURE[0], FUTURE[1], "2027-01-05 10:00:00"))
    conn.commit()
    conn.close()


EVERY_COMMAND = [
    ("run", "--once"), ("init",), ("db", "upgrade"), ("status", "ORDER-1"), ("status", "--carriers"),
    ("alerts",), ("alerts", "ack", "1"), ("report",), ("apikey", "list"), ("apikey", "create", "shop"),
    ("add", "--order", "O-2", "--carrier", "sandbox", "--tracking", "SBX-DELIVER-2", "--email", "a@example.com"),
    ("import", "orders.csv"),
]


def _refusal(lines: list[str]) -> str:
    refusal = [ln for ln in lines if "upgraded by tracker" in ln]
    assert len(refusal) == 1 and refusal == [ln for ln in lines if ln.startswith("tracker:")], lines
    assert refusal[0].startswith("tracker: database: this database was upgraded by tracker 9.4.0 (schema future_1)")
    assert refusal[0].endswith("Fix: run tracker 9.4.0 or newer.")
    return refusal[0]


def test_every_command_refuses_a_database_a_newer_release_upgraded_in_one_line(tmp_path, capsys, monkeypatch):
    from tracker.cli import main

    config = daemon_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "orders.csv").write_text("order_number,carrier,tracking_number,email\n"
                                         "O-3,sandbox,SBX-DELIVER-3,c@example.com\n")
    assert main(["--config", str(config), "add", "--order", "ORDER-1", "--carrier", "sandbox", "--tracking",
                 "SBX-DELIVER-1", "--email", "ana@example.com"]) == 0
    upgrade_by_a_future_release(tmp_path / "tracker.db")
    run = subprocess.run([sys.executable, "-m", "tracker", "--config", str(config), "run"], capture_output=True,
                         text=True, timeout=120, stdin=subprocess.DEVNULL)  # the daemon: its log set-up, exit code
    assert run.returncode == 2, run.stderr
    _refusal(run.stderr.strip().splitlines())
    assert "Traceback" not in run.stderr
    capsys.readouterr()
    for argv in EVERY_COMMAND:
        code = main(["--config", str(config), *argv])
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        _refusal(err.strip().splitlines())
    assert main(["--config", str(config), "db", "current"]) == 0
    out = capsys.readouterr().out
    assert "upgraded by tracker 9.4.0" in out and "newer than this tracker" in out
    assert main(["--config", str(config), "db", "check"]) == 1
    assert "run tracker 9.4.0 or newer" in capsys.readouterr().err
    conn = sqlite3.connect(tmp_path / "tracker.db")  # and nothing was written
    assert conn.execute("SELECT count(*) FROM orders").fetchone() == (1,)
    assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(FUTURE[0],)]


async def test_a_daemon_that_sees_the_schema_move_stops_claiming_and_exits_in_one_line(tmp_path):
    daemon_config(tmp_path, server={"enabled": False}, database={"schema_check_seconds": 0.5},
                  **quick_polling(seconds=3600, lease=30, tick=0.3))
    async with Daemons(tmp_path) as daemons:
        await daemons.run("add", "--order", "ORDER-1", "--carrier", "sandbox", "--tracking", "SBX-DELIVER-1",
                          "--email", "ana@example.com")
        run = await daemons.start("run")
        deadline = time.monotonic() + 60
        while "running:" not in run.stderr() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        upgrade_by_a_future_release(tmp_path / "tracker.db")
        assert await run.wait(60) == EXIT_SCHEMA_MOVED, run.stderr()
        moved = [ln for ln in run.stderr().splitlines() if "schema moved" in ln]
        assert len(moved) == 1 and f"from {head_revision()} to future_1 by tracker 9.4.0" in moved[0], run.stderr()
        assert "ERROR" not in run.stderr() and "Traceback" not in run.stderr()
    conn = sqlite3.connect(tmp_path / "tracker.db")
    assert conn.execute("SELECT count(*) FROM shipments WHERE lease_owner IS NOT NULL").fetchone() == (0,)


async def test_sigterm_with_a_carrier_call_in_flight_stops_without_an_error(tmp_path):
    arrived = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        arrived.set()
        await asyncio.sleep(30)
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/v1/track", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        daemon_config(tmp_path, carriers={"sandbox": {"base_url": f"http://127.0.0.1:{port}", "timeout_seconds": 25}},
                      dispatcher={"shutdown_grace_seconds": 1, "lease_seconds": 60},
                      **{"poller": {"tick_seconds": 0.3, "jitter": 0, "adaptive": False}})
        async with Daemons(tmp_path) as daemons:
            await daemons.run("add", "--order", "ORDER-1", "--carrier", "sandbox", "--tracking", "SBX-DELIVER-1",
                              "--email", "ana@example.com")
            run = await daemons.start("run")
            await asyncio.wait_for(arrived.wait(), 60)
            run.terminate()
            assert await run.wait(30) == 0, run.stderr()
            assert "ERROR" not in run.stderr() and "Traceback" not in run.stderr(), run.stderr()
            assert "in-flight work returned to the queue" in run.stderr()
    finally:
        await runner.cleanup()
