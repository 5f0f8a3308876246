"""Shopify's mandatory privacy (compliance) webhooks, at /webhooks/shopify like the others (signed with the
app's client secret: a bad signature is answered 401 before this module is reached).

- customers/data_request  {shop_domain, customer{id, email, phone}, orders_requested, data_request{id}}:
  recorded, and support alerted to give the store owner an export (`tracker privacy export`).
- customers/redact        {shop_domain, customer{id, email, phone}, orders_to_redact}: the customer's
  personal data erased at once, the anonymous history kept.
- shop/redact             {shop_id, shop_domain}: every order's personal data erased, when the domain is
  shopify.shop (a shop/redact of another shop erases nothing).
Each is recorded in privacy_requests and answered 200 with what was done.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web

from tracker.orders import InputError
from tracker.privacy import requests
from tracker.shops.payloads import text
from tracker.web.common import DAEMON

log = logging.getLogger("tracker.privacy")


def _json(status: int, **body) -> web.Response:
    return web.json_response(body, status=status)


async def shopify_privacy(request: web.Request, topic: str, body: bytes) -> web.Response:
    daemon = request.app[DAEMON]
    settings, now = daemon.settings, daemon.clock.now()
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        return _json(400, error={"field": "(body)", "problem": "not a JSON object", "fix": "send Shopify's payload"})
    shop = (text(data.get("shop_domain")) or "")[:64]
    if settings.shopify.shop and shop != settings.shopify.shop:
        log.warning("Shopify %s for another shop (%s) ignored", topic, shop or "no shop_domain")
        return _json(200, ignored=f"shop_domain is not shopify.shop ({settings.shopify.shop})")
    if topic == "shop/redact":
        outcome = await requests.erase_shop(daemon.engine, settings, now, shop=shop or "(unknown shop)")
        log.info("Shopify shop/redact: personal data of every order erased (privacy request #%s)", outcome.request_id)
        return _json(200, request=outcome.request_id, erased=outcome.erased)
    customer = data.get("customer") if isinstance(data.get("customer"), dict) else {}
    people = []
    for raw in (text(customer.get("email")), text(customer.get("phone"))):
        if raw:
            try:
                people.append(requests.person(raw, settings))
            except InputError:
                continue  # an address tracker could never have stored holds nothing here
    customer_id = (text(customer.get("id")) or "?")[:32]
    if topic == "customers/redact":
        outcome = await requests.erase_people(daemon.engine, settings, people, now, by=shop,
                                              via="shopify customers/redact", reference=f"customer {customer_id}")
        log.info("Shopify customers/redact for customer %s: %d orders erased (privacy request #%s)", customer_id,
                 len(outcome.orders), outcome.request_id)
        return _json(200, request=outcome.request_id, orders=len(outcome.orders))
    request_ref = data.get("data_request") if isinstance(data.get("data_request"), dict) else {}
    outcome = await requests.data_request(daemon.engine, settings, people, now, shop=shop, customer_id=customer_id,
                                          request_id=(text(request_ref.get("id")) or "?")[:32])
    return _json(200, request=outcome.request_id, orders=len(outcome.orders))
