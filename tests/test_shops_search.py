"""Every order findable, from payment on: the API, the console and `tracker status` find orders with or
without parcels by order number, email (any case), phone (any common formatting) or tracking number,
through a union of indexed lookups (no lookup scans a table)."""

from __future__ import annotations

import asyncio
import sys

import pytest
from sqlalchemy import text

from tests.helpers import add
from tests.web_helpers import SUPPORT, Client, api_key, console_get, web_daemon
from tracker.search import keys, order_ids


@pytest.fixture
async def shop(start_daemon, tmp_path):
    daemon = await web_daemon(start_daemon, tmp_path, **SUPPORT)
    client = Client(daemon, await api_key(daemon))
    # an order waiting to ship (paid, no parcel yet), and one with a parcel
    status, body, _ = await client.request("POST", "/api/v1/shipments", json={
        "order_number": "1001", "email": "Ana.Souza@Example.com", "phone": "+1 415 555 0101"})
    assert status == 201, body
    await add(daemon, "1002", "SBX-DELIVER-1002", email="bo@example.com", phone="+14155550102")
    yield daemon, client
    await client.close()


@pytest.mark.parametrize("q, number", [
    ("1001", "1001"), ("ana.souza@example.com", "1001"), ("ANA.SOUZA@EXAMPLE.COM", "1001"),
    ("+14155550101", "1001"), ("(415) 555-0101", "1001"), ("415.555.0101", "1001"), ("+1 415-555-0101", "1001"),
    ("1002", "1002"), ("sbx-deliver-1002", "1002"), ("BO@example.com", "1002"), ("415 555 0102", "1002"),
])
async def test_the_api_finds_orders_with_and_without_parcels(shop, q, number):
    daemon, c = shop
    status, body, _ = await c.request("GET", "/api/v1/search", params={"q": q})
    assert status == 200 and [r["order_number"] for r in body["results"]] == [number], body
    assert body["results"][0]["waiting_to_ship"] is (number == "1001")


async def test_a_miss_and_bad_queries(shop):
    daemon, c = shop
    status, body, _ = await c.request("GET", "/api/v1/search", params={"q": "nobody@example.com"})
    assert status == 200 and body["results"] == []
    status, body, _ = await c.request("GET", "/api/v1/search", params={"q": "x" * 255})
    assert status == 422 and body["error"]["field"] == "q" and body["error"]["fix"]


async def test_the_console_finds_a_waiting_order_by_email(shop):
    daemon, _ = shop
    status, page, resp = await console_get(daemon, "/support?q=ANA.SOUZA%40example.com")
    assert status == 200 and str(resp.url).endswith("/support/order?number=1001")
    assert "Waiting to ship" in page


async def status(tmp_path, query: str) -> tuple[int, str, str]:
    """`tracker status QUERY` as support runs it, in its own process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tracker", "--config", str(tmp_path / "config.yaml"), "status", query,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


async def test_tracker_status_takes_an_email_phone_or_tracking_number(shop, tmp_path):
    code, out, err = await status(tmp_path, "ana.souza@EXAMPLE.com")
    assert code == 0 and "Order 1001" in out and "WAITING TO SHIP" in out, (out, err)
    code, out, err = await status(tmp_path, "(415) 555-0102")
    assert code == 0 and "Order 1002" in out, (out, err)
    code, out, err = await status(tmp_path, "sbx-deliver-1002")
    assert code == 0 and "Order 1002" in out, (out, err)
    code, out, err = await status(tmp_path, "nobody@example.com")
    assert code != 0 and "nothing found by email" in err and "Fix:" in err, (out, err)


async def test_every_lookup_of_the_search_is_an_index_search(shop):
    daemon, _ = shop
    for q in ("Ana.Souza@Example.com", "(415) 555-0101", "SBX-DELIVER-1002", "1001"):
        sql = str(order_ids(keys(q, "US")).compile(daemon.engine.sync_engine, compile_kwargs={"literal_binds": True}))
        async with daemon.engine.connect() as conn:
            steps = [r[3] for r in await conn.execute(text("EXPLAIN QUERY PLAN " + sql))]
        reads = [s for s in steps if s.startswith(("SEARCH", "SCAN"))]
        assert reads and all(s.startswith("SEARCH") and "INDEX" in s for s in reads), steps


async def test_search_and_a_contact_problem_on_postgresql(pg_url, start_daemon, tmp_path):
    from tests.helpers import make_settings
    from tracker.shops.intake import registration

    settings = make_settings(tmp_path, database_url=pg_url, shop={"default_region": "ES"})
    daemon = await start_daemon(settings)
    from tracker.db import sessionmaker
    from tracker.orders import register_batch
    from tracker.search import search

    reg = registration(settings, {"order_number": "PG-1", "email": "Ana@Example.PT", "phone": "691 234",
                                  "country": "GR"})
    async with sessionmaker(daemon.engine)() as session, session.begin():
        (outcome,) = await register_batch(session, [(0, reg)], daemon.clock.now())
    assert outcome.error is None and outcome.order.contact_problem.startswith("phone left out")
    await add(daemon, "PG-2", "SBX-DELIVER-PG2", email="bo@example.com", phone="+34612345678")
    async with sessionmaker(daemon.engine)() as session:
        for q, number in [("ana@example.pt", "PG-1"), ("PG-1", "PG-1"), ("612 34 56 78", "PG-2"),
                          ("sbx-deliver-pg2", "PG-2")]:
            found = await search(session, q, "ES")
            assert [o.number for o, _ in found] == [number], q
        assert await search(session, "nobody@example.com", "ES") == []
