"""Shop webhooks are deduplicated on what is signed: the resource id and its update time in the body. A
replay under a new delivery id is not applied again, and an older state never rolls newer data back."""

from __future__ import annotations

import json

from sqlalchemy import select

from tests.test_intake_webhooks import (  # noqa: F401
    FULFILLMENT,
    WOO_ORDER,
    WOO_SECRET,
    post_shopify,
    shop,
    sign,
)
from tracker.db import sessionmaker
from tracker.models import Order


async def email_of(daemon, number: str) -> str:
    async with sessionmaker(daemon.engine)() as s:
        return (await s.execute(select(Order.email).where(Order.number == number))).scalar_one()


async def test_shopify_replay_with_a_new_delivery_id_is_not_applied_again(shop):  # noqa: F811
    _, c = shop
    v1 = {**FULFILLMENT, "updated_at": "2026-03-02T09:00:00-05:00"}
    status, body, _ = await post_shopify(c, v1, webhook_id="w-1")
    assert status == 200 and body["registered"][0]["created"] is True
    status, body, _ = await post_shopify(c, v1, webhook_id="w-2")  # same signed body, new header
    assert status == 200 and body == {"duplicate": True}


async def test_shopify_an_older_state_never_rolls_newer_data_back(shop):  # noqa: F811
    daemon, c = shop
    old = {**FULFILLMENT, "updated_at": "2026-03-02T09:00:00-05:00", "email": "jon@example.com"}
    new = {**FULFILLMENT, "updated_at": "2026-03-02T10:30:00-05:00", "email": "jon.new@example.com"}
    await post_shopify(c, old, webhook_id="w-1")
    status, body, _ = await post_shopify(c, new, topic="fulfillments/update", webhook_id="w-2")
    assert status == 200 and body["registered"][0]["created"] is False
    assert await email_of(daemon, "1001") == "jon.new@example.com"
    # the older delivery arrives late (a retry), under yet another delivery id
    status, body, _ = await post_shopify(c, old, webhook_id="w-3")
    assert status == 200 and body == {"stale": True}
    assert await email_of(daemon, "1001") == "jon.new@example.com"
    # an older *cancellation* does not stop a shipment either
    status, body, _ = await post_shopify(c, {**old, "status": "cancelled"}, webhook_id="w-4")
    assert body == {"stale": True}


async def test_woocommerce_dedupes_on_the_order_and_its_modified_time(shop):  # noqa: F811
    daemon, c = shop

    async def post(order, delivery):
        raw = json.dumps(order).encode()
        return await c.request("POST", "/webhooks/woocommerce", data=raw, headers={
            "Content-Type": "application/json", "X-WC-Webhook-Delivery-ID": delivery,
            "X-WC-Webhook-Signature": sign(WOO_SECRET, raw)})

    old = {**WOO_ORDER, "date_modified_gmt": "2026-03-02T14:00:00"}
    new = {**WOO_ORDER, "date_modified_gmt": "2026-03-02T14:05:00",
           "billing": {**WOO_ORDER["billing"], "email": "ana.new@example.com"}}
    assert (await post(old, "d-1"))[1]["registered"][0]["created"] is True
    assert (await post(old, "d-2"))[1] == {"duplicate": True}
    assert (await post(new, "d-3"))[1]["registered"][0]["created"] is False
    assert (await post(old, "d-4"))[1] == {"stale": True}
    assert await email_of(daemon, "727") == "ana.new@example.com"
