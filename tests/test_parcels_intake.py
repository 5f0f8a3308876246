"""Orders before shipping and orders with several parcels at every intake (API, CSV, CLI, Shopify,
WooCommerce), on the customer page, the support console and in `tracker status`."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.helpers import add, walk
from tests.test_intake_webhooks import FULFILLMENT, SHOPIFY_SECRET, WOO_SECRET, post_shopify, sign
from tests.web_helpers import SUPPORT, Client, api_key, support_login, web_daemon
from tracker.db import sessionmaker
from tracker.importer import CsvFile, format_report, import_rows
from tracker.models import Order, Shipment
from tracker.story import order_story

SHOPIFY_PAID = {"id": 450789469, "name": "#1002", "email": "jon@example.com", "customer_locale": "pt-BR",
                "financial_status": "paid", "shipping_address": {"phone": "+1 415-555-0133", "country_code": "CA"}}


@pytest.fixture
async def site(start_daemon, tmp_path):
    daemon = await web_daemon(start_daemon, tmp_path, intake={
        "shopify_secret": SHOPIFY_SECRET, "woocommerce_secret": WOO_SECRET, "carrier_aliases": {"Sandbox": "sandbox"}},
        **SUPPORT)
    client = Client(daemon, await api_key(daemon))
    yield daemon, client
    await client.close()


async def orders_and_parcels(daemon) -> list[tuple[str, int]]:
    async with sessionmaker(daemon.engine)() as s:
        rows = await s.execute(select(Order.number, func.count(Shipment.id)).outerjoin(
            Shipment, Shipment.order_id == Order.id).group_by(Order.number).order_by(Order.number))
        return [tuple(r) for r in rows]


async def test_api_registers_an_order_before_it_ships_then_its_parcels(site):
    daemon, c = site
    status, body, _ = await c.request("POST", "/api/v1/shipments", json={"order_number": "W-1", "email": "a@example.com"})
    assert status == 201 and body == {"created": True, "changed": [], "shipment": None, "order_number": "W-1"}
    assert await orders_and_parcels(daemon) == [("W-1", 0)]
    for n in ("SBX-DELIVER-1", "SBX-DELIVER-2"):
        status, body, _ = await c.request("POST", "/api/v1/shipments", json={
            "order_number": "W-1", "tracking_number": n, "carrier": "sandbox", "email": "a@example.com"})
        assert status == 201 and body["shipment"]["tracking_number"] == n
    assert await orders_and_parcels(daemon) == [("W-1", 2)]


async def test_api_refuses_a_carrier_without_a_tracking_number_and_writes_nothing(site):
    daemon, c = site
    status, body, _ = await c.request("POST", "/api/v1/shipments", json={
        "order_number": "W-2", "carrier": "sandbox", "email": "a@example.com"})
    assert status == 422 and body["error"]["field"] == "tracking_number"
    assert "leave both out" in body["error"]["fix"]
    assert await orders_and_parcels(daemon) == []


async def test_a_parcel_on_a_delivered_order_is_refused_with_a_clear_error(site, clock):
    daemon, c = site
    await add(daemon, "W-3", "SBX-DELIVER-3")
    await walk(daemon, clock, 36)
    status, body, _ = await c.request("POST", "/api/v1/shipments", json={
        "order_number": "W-3", "tracking_number": "SBX-DELIVER-4", "carrier": "sandbox", "email": "a@example.com"})
    assert status == 422 and body["error"]["field"] == "tracking_number"
    assert "already delivered" in body["error"]["problem"] and "new order" in body["error"]["fix"]
    assert await orders_and_parcels(daemon) == [("W-3", 1)]


async def test_a_tracking_number_of_another_order_is_refused(site):
    daemon, c = site
    await add(daemon, "W-4", "SBX-DELIVER-5")
    status, body, _ = await c.request("POST", "/api/v1/shipments", json={
        "order_number": "W-5", "tracking_number": "SBX-DELIVER-5", "carrier": "sandbox", "email": "a@example.com"})
    assert status == 422 and "already registered for order W-4" in body["error"]["problem"]


async def test_shopify_paid_then_two_fulfillments_land_in_one_order(site):
    daemon, c = site
    status, body, _ = await post_shopify(c, SHOPIFY_PAID, topic="orders/paid", webhook_id="p-1")
    assert status == 200 and body["registered"] == [
        {"order_number": "1002", "carrier": None, "tracking_number": None, "created": True}]
    async with sessionmaker(daemon.engine)() as s:
        assert (await s.execute(select(Order.locale))).scalar_one() == "pt-BR"  # the shop's customer_locale
    for i, n in enumerate(["SBX-DELIVER-21", "SBX-DELIVER-22"], 1):
        status, body, _ = await post_shopify(c, {**FULFILLMENT, "name": f"#1002.{i}", "tracking_number": n,
                                                 "tracking_numbers": [n]}, webhook_id=f"f-{i}")
        assert status == 200 and body["registered"][0]["order_number"] == "1002"
    assert await orders_and_parcels(daemon) == [("1002", 2)]


async def test_woocommerce_order_created_without_tracking_waits_to_ship(site):
    daemon, c = site
    order = {"id": 728, "number": "728", "status": "processing", "meta_data": [],
             "billing": {"email": "ana@example.com", "phone": "+351 912 345 678"}}
    body = json.dumps(order).encode()
    headers = {"Content-Type": "application/json", "X-WC-Webhook-Topic": "order.created",
               "X-WC-Webhook-Delivery-ID": "d-1", "X-WC-Webhook-Signature": sign(WOO_SECRET, body)}
    status, reply, _ = await c.request("POST", "/webhooks/woocommerce", data=body, headers=headers)
    assert status == 200 and reply["registered"][0]["created"] is True
    assert await orders_and_parcels(daemon) == [("728", 0)]
    # an update without tracking data still changes nothing
    body = json.dumps({**order, "number": "729"}).encode()
    status, reply, _ = await c.request("POST", "/webhooks/woocommerce", data=body, headers={
        **headers, "X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Delivery-ID": "d-2",
        "X-WC-Webhook-Signature": sign(WOO_SECRET, body)})
    assert reply == {"ignored": "no tracking data on this order"}


async def test_csv_rows_without_a_tracking_number_register_orders_waiting_to_ship(site, tmp_path):
    daemon, _ = site
    path = tmp_path / "orders.csv"
    path.write_text("order_number,tracking_number,email\nC-1,,a@example.com\nC-1,SBX-DELIVER-31,a@example.com\n"
                    "C-2,,b@example.com\n")
    report = await import_rows(daemon.engine, daemon.settings, CsvFile(path).rows(), clock=daemon.clock)
    assert (report.created, report.waiting, report.rejected) == (1, 2, [])
    assert "2 orders waiting to ship" in format_report(report)
    assert await orders_and_parcels(daemon) == [("C-1", 1), ("C-2", 0)]


async def test_pages_and_status_show_every_parcel_and_the_wait_before_shipping(site, clock):
    daemon, c = site
    a = await add(daemon, "P-1", "SBX-DELIVER-41", locale="es")
    b = await add(daemon, "P-1", "SBX-DELIVER-42", locale="es")
    await c.request("POST", "/api/v1/shipments", json={"order_number": "P-2", "email": "a@example.com"})
    await walk(daemon, clock, 3)
    status, html, _ = await c.request("GET", f"/t/{a.public_token}")
    assert status == 200 and "Paquete 1 de 2" in html and "Tu pedido viaja en 2 paquetes" in html
    assert f'href="/t/{b.public_token}"' in html and "Paquete 2 de 2" in html

    clock.advance(timedelta(hours=48))
    await daemon.run_once()
    plain = Client(daemon)
    try:
        assert (await support_login(plain))[0] == 200
        _, html, _ = await plain.request("GET", "/support/order?number=P-1")
        assert "Parcel 1 of 2: sandbox SBX-DELIVER-41" in html and "Parcel 2 of 2: sandbox SBX-DELIVER-42" in html
        _, html, resp = await plain.request("GET", "/support?q=P-2")
        assert resp.url.path == "/support/order" and "Waiting to ship" in html
        assert "preparing" in html and "[preparing]" in html
    finally:
        await plain.close()

    story = await order_story(daemon.engine, "P-2", daemon.settings)
    assert "WAITING TO SHIP" in story and "preparing" in story and "[preparing]" in story
    story = await order_story(daemon.engine, "P-1", daemon.settings)
    assert "Parcel 1 of 2: Shipment sandbox SBX-DELIVER-41" in story
