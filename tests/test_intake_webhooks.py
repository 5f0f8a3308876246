"""Shopify and WooCommerce webhooks: signed, deduplicated, mapped to orders and shipments."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from sqlalchemy import func, select

from tests.web_helpers import Client, web_daemon
from tracker.db import sessionmaker
from tracker.models import Order, Shipment, WebhookEvent

SHOPIFY_SECRET = "shpss_test_secret"
WOO_SECRET = "woo test secret"

FULFILLMENT = {
    "id": 255858046, "order_id": 450789469, "status": "success", "name": "#1001.1", "service": "manual",
    "tracking_company": "Sandbox", "tracking_number": "SBX-DELIVER-77", "tracking_numbers": ["SBX-DELIVER-77"],
    "email": "jon@example.com",
    "destination": {"first_name": "Jon", "address1": "1 Main St", "phone": "+1 415-555-0133", "city": "Ottawa",
                    "country_code": "CA"},
}

WOO_ORDER = {
    "id": 727, "number": "727", "status": "completed",
    "billing": {"first_name": "Ana", "email": "ana@example.com", "phone": "+351 912 345 678", "country": "PT"},
    "meta_data": [{"id": 1, "key": "_wc_shipment_tracking_items", "value": [
        {"tracking_provider": "sandbox", "custom_tracking_provider": "", "tracking_number": "SBX-PICKUP-5",
         "date_shipped": "1700000000"}]}],
}


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


async def counts(daemon) -> tuple[int, int, int]:
    async with sessionmaker(daemon.engine)() as s:
        return tuple([(await s.execute(select(func.count()).select_from(t))).scalar_one()
                      for t in (Order, Shipment, WebhookEvent)])


@pytest.fixture
async def shop(start_daemon, tmp_path):
    daemon = await web_daemon(start_daemon, tmp_path, intake={"shopify_secret": SHOPIFY_SECRET,
                                                              "woocommerce_secret": WOO_SECRET,
                                                              "carrier_aliases": {"Sandbox": "sandbox"}})
    client = Client(daemon)
    yield daemon, client
    await client.close()


async def post_shopify(c, payload, *, topic="fulfillments/create", webhook_id="w-1", secret=SHOPIFY_SECRET):
    body = json.dumps(payload).encode()
    return await c.request("POST", "/webhooks/shopify", data=body, headers={
        "Content-Type": "application/json", "X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Hmac-Sha256": sign(secret, body)})


async def test_shopify_fulfillment_registers_the_shipment_once(shop):
    daemon, c = shop
    status, body, _ = await post_shopify(c, FULFILLMENT)
    assert status == 200 and body["registered"] == [
        {"order_number": "1001", "carrier": "sandbox", "tracking_number": "SBX-DELIVER-77", "created": True}]
    assert await counts(daemon) == (1, 1, 1)
    # the same delivery again: applied once
    status, body, _ = await post_shopify(c, FULFILLMENT)
    assert status == 200 and body == {"duplicate": True}
    # an update (new delivery id) with a new email: contact data updated, no new shipment
    status, body, _ = await post_shopify(c, {**FULFILLMENT, "email": "jon.new@example.com"},
                                         topic="fulfillments/update", webhook_id="w-2")
    assert body["registered"][0]["created"] is False
    assert await counts(daemon) == (1, 1, 2)
    async with sessionmaker(daemon.engine)() as s:
        order = (await s.execute(select(Order))).scalar_one()
    assert order.email == "jon.new@example.com" and order.phone == "+14155550133"


async def test_bad_signature_gets_401_and_stores_nothing(shop):
    daemon, c = shop
    status, body, _ = await post_shopify(c, FULFILLMENT, secret="wrong")
    assert status == 401 and body["error"]["field"] == "X-Shopify-Hmac-Sha256"
    body_bytes = json.dumps(WOO_ORDER).encode()
    status, body, _ = await c.request("POST", "/webhooks/woocommerce", data=body_bytes, headers={
        "Content-Type": "application/json", "X-WC-Webhook-Signature": sign("wrong", body_bytes)})
    assert status == 401
    status, body, _ = await c.request("POST", "/webhooks/woocommerce", data=body_bytes)  # unsigned
    assert status == 401
    assert await counts(daemon) == (0, 0, 0)


async def test_woocommerce_order_with_tracking_data(shop):
    daemon, c = shop
    body = json.dumps(WOO_ORDER).encode()
    headers = {"Content-Type": "application/json", "X-WC-Webhook-Topic": "order.updated",
               "X-WC-Webhook-Delivery-ID": "d-1", "X-WC-Webhook-Signature": sign(WOO_SECRET, body)}
    status, data, _ = await c.request("POST", "/webhooks/woocommerce", data=body, headers=headers)
    assert status == 200 and data["registered"][0]["order_number"] == "727"
    status, data, _ = await c.request("POST", "/webhooks/woocommerce", data=body, headers=headers)
    assert data == {"duplicate": True}
    assert await counts(daemon) == (1, 1, 1)
    # an order without tracking data yet is acknowledged and ignored
    bare = json.dumps({**WOO_ORDER, "number": "728", "meta_data": []}).encode()
    status, data, _ = await c.request("POST", "/webhooks/woocommerce", data=bare, headers={
        "X-WC-Webhook-Signature": sign(WOO_SECRET, bare), "X-WC-Webhook-Delivery-ID": "d-2"})
    assert status == 200 and "ignored" in data
    # the ping WooCommerce sends when the webhook is saved
    ping = b"webhook_id=12"
    status, data, _ = await c.request("POST", "/webhooks/woocommerce", data=ping, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-WC-Webhook-Signature": sign(WOO_SECRET, ping)})
    assert status == 200 and data == {"ping": True}


async def test_unusable_items_are_acknowledged_with_the_reason(shop):
    daemon, c = shop
    # a carrier no source serves is still a parcel (not trackable), never acknowledged and lost
    status, body, _ = await post_shopify(c, {**FULFILLMENT, "tracking_company": "Pigeon Post"})
    assert status == 200 and body["rejected"] == []
    assert body["registered"][0]["carrier"] == "pigeon-post"
    # a bad phone does not lose the shipment when the email is good
    status, body, _ = await post_shopify(c, {**FULFILLMENT, "destination": {"phone": "12"}}, webhook_id="w-9")
    assert body["registered"][0]["created"] is True


async def test_a_cancelled_fulfillment_stops_tracking(shop):
    daemon, c = shop
    await post_shopify(c, FULFILLMENT)
    status, body, _ = await post_shopify(c, {**FULFILLMENT, "status": "cancelled"}, topic="fulfillments/update",
                                         webhook_id="w-cancel")
    assert status == 200 and body == {"stopped": 1}
    async with sessionmaker(daemon.engine)() as s:
        ship = (await s.execute(select(Shipment))).scalar_one()
    assert ship.next_check_at is None and ship.stopped_by == "shopify: fulfillment cancelled"
