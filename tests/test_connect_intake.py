"""What connecting a shop changes at the webhooks and in the messages: orders/cancelled stops an order,
the shop may have messages link its own order status page, and the migration keeps every row."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from tests.helpers import notifications
from tests.shops_env import SHOPIFY_SECRET
from tests.web_helpers import Client, web_daemon
from tracker.db import make_engine, sessionmaker, upgrade
from tracker.models import Order, Shipment

STATUS_PAGE = "https://casa-azul.myshopify.com/73400000/orders/9f1c2e/authenticate?key=0a1b2c"
PAID = {"id": 820982911946154508, "name": "#1001", "email": "ana.conceicao@example.pt", "phone": "+351912345678",
        "customer_locale": "pt-PT", "updated_at": "2026-03-02T15:00:00+01:00", "order_status_url": STATUS_PAGE,
        "shipping_address": {"phone": "+351912345678", "country_code": "PT"}}
FULFILLMENT = {"id": 255858046, "order_id": 820982911946154508, "status": "success", "name": "#1001.1",
               "tracking_company": "Sandbox", "tracking_numbers": ["SBX-DELIVER-77"],
               "email": "ana.conceicao@example.pt", "updated_at": "2026-03-02T16:00:00+01:00",
               "destination": {"phone": "+351912345678", "country_code": "PT"}}


def sign(body: bytes) -> str:
    return base64.b64encode(hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).digest()).decode()


async def post(client, topic, payload):
    body = json.dumps(payload).encode()
    return await client.request("POST", "/webhooks/shopify", data=body, headers={
        "X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": sign(body), "Content-Type": "application/json"})


async def shop_daemon(start_daemon, tmp_path, **extra):
    daemon = await web_daemon(start_daemon, tmp_path, intake={"shopify_secret": SHOPIFY_SECRET,
                                                              "carrier_aliases": {"Sandbox": "sandbox"}},
                              quiet_hours={"enabled": False}, **extra)
    return daemon, Client(daemon)


@pytest.mark.parametrize("link, expected", [("order_status", STATUS_PAGE), ("tracker", "/t/")])
async def test_messages_link_the_page_the_shop_chose(start_daemon, tmp_path, clock, link, expected, capsys):
    daemon, client = await shop_daemon(start_daemon, tmp_path, shopify={"message_link": link},
                                       channels={"sms": {"provider": "console"}, "email": {"provider": "console"}})
    try:
        assert (await post(client, "orders/paid", PAID))[0] == 200
        assert (await post(client, "fulfillments/create", FULFILLMENT))[0] == 200
        async with sessionmaker(daemon.engine)() as s:
            assert (await s.execute(select(Order.status_url))).scalar_one() == STATUS_PAGE
        for _ in range(6):
            await daemon.run_once()
            clock.advance(timedelta(hours=1))
        printed = capsys.readouterr().out
        assert "shipped" in printed.lower() or "enviado" in printed.lower()
        assert expected in printed
        if link == "order_status":
            assert "/t/" not in printed
    finally:
        await client.close()


async def test_orders_cancelled_stops_every_parcel_and_the_wait(start_daemon, tmp_path, clock):
    daemon, client = await shop_daemon(start_daemon, tmp_path)
    try:
        await post(client, "orders/paid", {**PAID, "id": 1, "name": "#2002"})  # waits to ship, then cancelled
        await post(client, "orders/paid", PAID)
        await post(client, "fulfillments/create", FULFILLMENT)
        status, body, _ = await post(client, "orders/cancelled", {**PAID, "cancelled_at": "2026-03-02T17:00:00Z",
                                                                   "updated_at": "2026-03-02T17:00:00Z"})
        assert status == 200 and body == {"stopped": 1}
        status, body, _ = await post(client, "orders/cancelled", {**PAID, "id": 1, "name": "#2002",
                                                                   "updated_at": "2026-03-02T17:00:00Z"})
        assert status == 200 and body == {"stopped": 0}
        async with sessionmaker(daemon.engine)() as s:
            ship = (await s.execute(select(Shipment))).scalar_one()
            assert ship.stopped_at is not None and ship.next_check_at is None
            assert all(o.cancelled_at for o in (await s.execute(select(Order))).scalars())
        clock.advance(timedelta(hours=72))  # past watch.handling_hours: no "still preparing" for a cancelled order
        await daemon.run_once()
        assert [n for n in await notifications(daemon.engine) if n.milestone.startswith("preparing")] == []
        # the same delivery again: applied once
        assert (await post(client, "orders/cancelled", {**PAID, "updated_at": "2026-03-02T17:00:00Z"}))[1] == {
            "duplicate": True}
    finally:
        await client.close()


async def test_connect_1_upgrades_a_populated_database_every_row_kept(tmp_path):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await upgrade(engine, "parcels_1")
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO orders (id, number, email, phone, locale, channels, created_at) VALUES "
                "(1, '1001', 'ana@example.pt', '+351912345678', 'pt-PT', 'sms,email', '2026-03-01 10:00:00'), "
                "(2, '1002', NULL, NULL, 'en', 'email', '2026-03-01 11:00:00')"))
            await conn.execute(text(
                "INSERT INTO shipments (id, order_id, carrier, source, tracking_number, status, public_token, "
                "created_at, updated_at, failures) VALUES (1, 1, 'sandbox', 'sandbox', 'SBX-DELIVER-1', 'pending', "
                "'tok', '2026-03-01 10:00:00', '2026-03-01 10:00:00', 0)"))
        await upgrade(engine)
        async with sessionmaker(engine)() as s:
            orders = (await s.execute(select(Order).order_by(Order.id))).scalars().all()
            assert [(o.number, o.email, o.status_url, o.cancelled_at) for o in orders] == [
                ("1001", "ana@example.pt", None, None), ("1002", None, None, None)]
            assert (await s.execute(select(Shipment.tracking_number))).scalar_one() == "SBX-DELIVER-1"
            assert (await s.execute(text("SELECT count(*) FROM privacy_requests"))).scalar_one() == 0
    finally:
        await engine.dispose()
