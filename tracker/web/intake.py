"""Shop webhooks: Shopify fulfillments and WooCommerce orders carrying tracking data.

- POST /webhooks/shopify      topics fulfillments/create and fulfillments/update (every fulfillment of one
  order lands in that order, one parcel each), and orders/paid (the order waits to ship);
  header X-Shopify-Hmac-Sha256 = base64(HMAC-SHA256(intake.shopify_secret, raw body)).
- POST /webhooks/woocommerce  order.created / order.updated with tracking data (the Shipment Tracking
  extension's `_wc_shipment_tracking_items`, or `_tracking_number` + `_tracking_provider` meta); an
  order.created without tracking data registers the order before shipping;
  header X-WC-Webhook-Signature, same scheme with intake.woocommerce_secret.

A bad or missing signature gets 401 and nothing is stored. Deliveries are deduplicated on what is signed,
never on a delivery-id header: the resource's id and its update time in the body (ShopResource, written
in the same transaction as the registrations) apply each state once and never an older state over a
newer one (answered 200 {"stale": true}); a body without them is applied once per body (its hash). Every
registration goes through validate() and register(); an item the shop sent that cannot be registered
is answered 200 with the reason (a shop retrying it would not fix it), and logged for support.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from datetime import datetime, timezone
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from tracker.bulk import register_batch, validate_item
from tracker.db import insert_ignore, is_sqlite, sessionmaker
from tracker.models import Order, Shipment, ShopResource, WebhookEvent
from tracker.orders import InputError, Registration, refuse_unsafe
from tracker.web import common
from tracker.web.common import DAEMON

log = logging.getLogger("tracker.intake")

SHOPIFY_TOPICS = {"fulfillments/create", "fulfillments/update"}
# Paid but not shipped yet: the order is registered and its wait before shipping is watched.
SHOPIFY_PAID = "orders/paid"


def _json(status: int, **body) -> web.Response:
    return web.json_response(body, status=status)


def _error(status: int, field: str, problem: str, fix: str = "") -> web.Response:
    return _json(status, error={"field": field, "problem": problem, "fix": fix})


async def _read_body(request: web.Request) -> bytes | None:
    limit = request.app[DAEMON].settings.api.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks, size = [], 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def signature_ok(secret: str, body: bytes, given: str | None) -> bool:
    if not secret or not given:
        return False
    want = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(want.encode(), given.strip().encode("utf-8", "replace"))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value).strip() or None
    return None


def _carrier(settings, name: str | None) -> str | None:
    if not name:
        return None
    aliases = {k.lower(): v for k, v in settings.intake.carrier_aliases.items()}
    return aliases.get(name.strip().lower(), name.strip().lower())


def registration(settings, item: dict[str, Any]) -> Registration:
    """validate() the item; a contact detail the shop got wrong is dropped if the other one is good."""
    try:
        return validate_item(settings, item)
    except InputError as exc:
        other = {"phone": "email", "email": "phone"}.get(exc.field)
        if other and item.get(other) and item.get(exc.field):
            return validate_item(settings, {**item, exc.field: None})
        raise


class Version:
    """What identifies one state of a shop resource, from the signed body."""

    def __init__(self, source: str, body: bytes, resource_id: str | None, updated: Any) -> None:
        self.source, self.resource_id = source, (resource_id or "")[:64]
        self.updated_at = _when(updated) if resource_id else None
        self.digest = hashlib.sha256(body).hexdigest()

    async def claim(self, daemon, session) -> str | None:
        """Record this state as applied. None: go on; "duplicate" or "stale": already had it, or newer."""
        now = daemon.clock.now()
        if self.updated_at is None:
            first = await session.execute(insert_ignore(daemon.engine, WebhookEvent.__table__, [dict(
                source=self.source, event_id=self.digest, received_at=now)], ["source", "event_id"]))
            return None if first.rowcount else "duplicate"
        T = ShopResource.__table__
        insert = (sqlite if is_sqlite(daemon.engine) else postgresql).insert(T)
        stmt = insert.values(source=self.source, resource_id=self.resource_id, updated_at=self.updated_at,
                             received_at=now).on_conflict_do_update(
            index_elements=["source", "resource_id"],
            set_={"updated_at": insert.excluded.updated_at, "received_at": insert.excluded.received_at},
            where=T.c.updated_at < insert.excluded.updated_at)
        if (await session.execute(stmt)).rowcount:
            return None
        have = (await session.execute(select(T.c.updated_at).where(
            T.c.source == self.source, T.c.resource_id == self.resource_id))).scalar_one()
        return "duplicate" if have == self.updated_at else "stale"


def _when(value: Any) -> datetime | None:
    """An ISO 8601 time from the shop (without an offset: UTC, as WooCommerce's *_gmt fields are)."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def _seen(source: str, outcome: str, version: Version) -> web.Response:
    if outcome == "stale":
        log.info("%s webhook: an older state of %s than the one applied: ignored", source, version.resource_id)
        return _json(200, stale=True)
    return _json(200, duplicate=True)


async def _apply(request: web.Request, source: str, version: Version, items: list[dict[str, Any]]) -> web.Response:
    daemon = request.app[DAEMON]
    try:  # text that would forge log lines or turn messages around refuses the whole delivery
        for item in items:
            for key, value in item.items():
                refuse_unsafe(key, value)
    except InputError as exc:
        return _error(400, exc.field, exc.problem, exc.fix)
    regs, rejected = [], []
    for i, item in enumerate(items):
        try:
            regs.append((i, registration(daemon.settings, item)))
        except InputError as exc:
            rejected.append({"tracking_number": item.get("tracking_number"), "field": exc.field,
                             "problem": exc.problem})
    now = daemon.clock.now()
    for attempt in range(3):
        try:
            async with sessionmaker(daemon.engine)() as session, session.begin():
                seen = await version.claim(daemon, session)
                if seen:
                    return _seen(source, seen, version)
                outcomes = await register_batch(session, regs, now,
                                                first_check_seconds=daemon.settings.poller.first_check_seconds)
            break
        except IntegrityError:  # the same order registered by another request meanwhile: again
            if attempt == 2:
                return _error(409, "(body)", "the same order is being registered by another request",
                              "deliver it again")
    registered = []
    for o in outcomes:
        if o.error:
            rejected.append({"tracking_number": dict(regs)[o.index].tracking_number,
                             "field": o.error.field, "problem": o.error.problem})
        else:
            registered.append({"order_number": o.order.number, "carrier": o.shipment.carrier if o.shipment else None,
                               "tracking_number": o.shipment.tracking_number if o.shipment else None,
                               "created": o.created})
    for r in rejected:
        # the problem may quote the customer's email or phone: never in a log line
        log.warning("%s webhook %s: could not register a shipment: %s: %s", source,
                    version.resource_id or version.digest[:12], r["field"],
                    re.sub(r"'[^']*'", "'…'", r["problem"]))
    if any(r["created"] for r in registered):
        common.wake_poller(daemon)
    return _json(200, registered=registered, rejected=rejected)


async def _cancel(request: web.Request, source: str, version: Version, order_number: str | None,
                  numbers: list[str]) -> web.Response:
    """A cancelled fulfillment: stop tracking its shipments (nothing more is sent about them)."""
    daemon = request.app[DAEMON]
    wanted = {n.replace(" ", "").upper() for n in numbers}
    async with sessionmaker(daemon.engine)() as session, session.begin():
        seen = await version.claim(daemon, session)
        if seen:
            return _seen(source, seen, version)
        ids = [sid for sid, number in (await session.execute(
            select(Shipment.id, Shipment.tracking_number).join(Order, Order.id == Shipment.order_id)
            .where(Order.number == (order_number or ""), Shipment.tracking_number.in_(wanted))))]
    for sid in ids:
        await common.stop(daemon, sid, f"{source}: fulfillment cancelled")
    return _json(200, stopped=len(ids))


async def _signed_body(request: web.Request, platform: str, secret_key: str, header: str,
                       fix: str) -> bytes | web.Response:
    """The raw body of an enabled, size-limited, correctly signed shop webhook, or the error to answer."""
    secret = getattr(request.app[DAEMON].settings.intake, secret_key)
    if not secret:
        return _error(404, f"intake.{secret_key}", f"the {platform} webhook is not enabled",
                      f"set intake.{secret_key} in config.yaml")
    body = await _read_body(request)
    if body is None:
        return _error(413, "(body)", "the body is too large", "raise api.max_body_bytes")
    if not signature_ok(secret, body, request.headers.get(header)):
        log.warning("%s webhook with a bad or missing signature refused", platform)
        return _error(401, header, "bad or missing signature", fix)
    return body


async def shopify(request: web.Request) -> web.Response:
    settings = request.app[DAEMON].settings
    body = await _signed_body(request, "Shopify", "shopify_secret", "X-Shopify-Hmac-Sha256",
                              "use the webhook signing secret of the shop as intake.shopify_secret")
    if isinstance(body, web.Response):
        return body
    topic = request.headers.get("X-Shopify-Topic", "")
    if topic == SHOPIFY_PAID:
        return await _shopify_paid(request, body)
    if topic not in SHOPIFY_TOPICS:
        return _json(200, ignored=f"topic {topic[:64]!r} is not handled")
    parsed = _shopify_object(body, "a fulfillment object", "fulfillment")
    if isinstance(parsed, web.Response):
        return parsed
    data, version = parsed
    name = _text(data.get("name"))
    order_number = name.rsplit(".", 1)[0].lstrip("#") if name else _text(data.get("order_id"))
    numbers = data.get("tracking_numbers") or ([data.get("tracking_number")] if data.get("tracking_number") else [])
    if not isinstance(numbers, list):
        numbers = []
    if data.get("status") in ("cancelled", "error", "failure"):
        return await _cancel(request, "shopify", version, order_number, [_text(n) for n in numbers if _text(n)])
    dest = data.get("destination") if isinstance(data.get("destination"), dict) else {}
    email = _text(data.get("email"))
    phone = _text(dest.get("phone"))
    items = [{"order_number": order_number, "carrier": _carrier(settings, _text(data.get("tracking_company"))),
              "tracking_number": _text(n), "email": email, "phone": phone} for n in numbers]
    items = [i for i in items if i["tracking_number"]]
    if not items:
        return _json(200, ignored="no tracking number in this fulfillment")
    return await _apply(request, "shopify", version, items)


def _shopify_object(body: bytes, what: str, kind: str) -> tuple[dict, Version] | web.Response:
    """The JSON object of a Shopify delivery and its signed version (resource id, updated time), or the
    error to answer."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return _error(400, "(body)", "not valid JSON")
    if not isinstance(data, dict):
        return _error(400, "(body)", f"not {what}")
    return data, Version("shopify", body, _text(data.get("id")) and f"{kind}:{_text(data.get('id'))}",
                         data.get("updated_at"))


async def _shopify_paid(request: web.Request, body: bytes) -> web.Response:
    parsed = _shopify_object(body, "an order object", "order")
    if isinstance(parsed, web.Response):
        return parsed
    data, version = parsed
    name = _text(data.get("name"))
    customer = data.get("customer") if isinstance(data.get("customer"), dict) else {}
    address = data.get("shipping_address") if isinstance(data.get("shipping_address"), dict) else {}
    item = {"order_number": name.lstrip("#") if name else _text(data.get("order_number")) or _text(data.get("id")),
            "email": _text(data.get("email")) or _text(customer.get("email")),
            "phone": _text(data.get("phone")) or _text(address.get("phone")) or _text(customer.get("phone"))}
    locale = _text(data.get("customer_locale"))
    if locale and re.fullmatch(r"[a-zA-Z]{2,3}([-_][a-zA-Z]{2})?", locale):
        lang, _, region = locale.replace("_", "-").partition("-")
        item["locale"] = lang.lower() + (f"-{region.upper()}" if region else "")
    return await _apply(request, "shopify", version, [item])


def _woo_tracking(order: dict) -> list[tuple[str | None, str]]:
    out = []
    meta = order.get("meta_data") if isinstance(order.get("meta_data"), list) else []
    by_key = {m.get("key"): m.get("value") for m in meta if isinstance(m, dict)}
    items = by_key.get("_wc_shipment_tracking_items")
    if isinstance(items, list):
        for t in items:
            if isinstance(t, dict) and _text(t.get("tracking_number")):
                provider = _text(t.get("custom_tracking_provider")) or _text(t.get("tracking_provider"))
                out.append((provider, _text(t.get("tracking_number"))))
    if not out and _text(by_key.get("_tracking_number")):
        out.append((_text(by_key.get("_tracking_provider")), _text(by_key.get("_tracking_number"))))
    return out


async def woocommerce(request: web.Request) -> web.Response:
    settings = request.app[DAEMON].settings
    body = await _signed_body(request, "WooCommerce", "woocommerce_secret", "X-WC-Webhook-Signature",
                              "use the webhook's secret as intake.woocommerce_secret")
    if isinstance(body, web.Response):
        return body
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        if body.startswith(b"webhook_id="):  # WooCommerce's ping when the webhook is saved
            return _json(200, ping=True)
        return _error(400, "(body)", "not valid JSON")
    if not isinstance(data, dict):
        return _error(400, "(body)", "not an order object")
    tracking = _woo_tracking(data)
    topic = request.headers.get("X-WC-Webhook-Topic", "")
    if not tracking and topic != "order.created":
        return _json(200, ignored="no tracking data on this order")
    billing = data.get("billing") if isinstance(data.get("billing"), dict) else {}
    order_number = _text(data.get("number")) or _text(data.get("id"))
    version = Version("woocommerce", body, _text(data.get("id")) and f"order:{_text(data.get('id'))}",
                      data.get("date_modified_gmt") or data.get("date_modified"))
    items = [{"order_number": order_number, "carrier": _carrier(settings, provider), "tracking_number": number,
              "email": _text(billing.get("email")), "phone": _text(billing.get("phone"))}
             for provider, number in tracking] or [  # created, not shipped yet: it waits for its parcel
        {"order_number": order_number, "email": _text(billing.get("email")), "phone": _text(billing.get("phone"))}]
    return await _apply(request, "woocommerce", version, items)


def setup(app: web.Application) -> None:
    app.router.add_post("/webhooks/shopify", shopify)
    app.router.add_post("/webhooks/woocommerce", woocommerce)
