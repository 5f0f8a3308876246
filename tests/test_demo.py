"""`tracker demo` never touches the shop: its own scratch database, console channels, and it says where."""

from __future__ import annotations

import sqlite3

import pytest

from tests.procs import Daemons, daemon_config

TWILIO = {"account_sid": "AC" + "a" * 32, "auth_token": "tok", "from_number": "+15005550006",
          "base_url": "http://127.0.0.1:9"}  # nothing listens there: a send would fail, not leave the machine
SENDGRID = {"api_key": "SG.x", "from_email": "orders@shop.example", "base_url": "http://127.0.0.1:9"}


@pytest.mark.timeout(180)
async def test_demo_runs_in_a_scratch_database_with_console_channels(tmp_path):
    shop_db = tmp_path / "tracker.db"
    daemon_config(tmp_path, channels={"sms": {"provider": "twilio"}, "email": {"provider": "sendgrid"}},
                  providers={"twilio": TWILIO, "sendgrid": SENDGRID})
    state = tmp_path / "state"
    async with Daemons(tmp_path) as daemons:
        demo = await daemons.start("demo", "--speed", "36000", "--poll-every", "0.2", "--port", "0", "--timeout", "120",
                                   env={"XDG_STATE_HOME": str(state)})
        assert await demo.wait(150) == 0, demo.stderr()
    out = demo.stdout()
    scratch = state / "tracker-demo"
    assert f"a scratch database in {scratch}" in out
    assert "── SMS to" in out and "── EMAIL to" in out  # printed by the console channel, not sent
    assert f"tracker --config {scratch / 'config.yaml'} status ORDER-1001" in out
    with sqlite3.connect(scratch / "tracker.db") as conn:
        assert conn.execute("select count(*) from orders where number like 'ORDER-%'").fetchone()[0] == 4
    if shop_db.exists():  # the shop's configured database holds none of the demo's orders
        with sqlite3.connect(shop_db) as conn:
            tables = {r[0] for r in conn.execute("select name from sqlite_master")}
            assert "orders" not in tables or conn.execute("select count(*) from orders").fetchone()[0] == 0


async def test_demo_leaves_a_folder_that_is_not_its_own_alone(tmp_path):
    daemon_config(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "tracker.db").write_text("the shop's data")
    async with Daemons(tmp_path) as daemons:
        demo = await daemons.start("demo", "--dir", str(mine))
        assert await demo.wait(60) == 2
    assert "is not a demo folder" in demo.stderr() and demo.stderr().count("\n") == 1
    assert (mine / "tracker.db").read_text() == "the shop's data"
