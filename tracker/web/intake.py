"""Shop webhooks: Shopify fulfillments and WooCommerce orders carrying tracking data.

- POST /webhooks/shopify      topics fulfillments/create and fulfillments/update (every fulfillment of one
  order lands in that order, one parcel each), orders/paid (the order waits to ship), orders/cancelled
  (its parcels stop, its wait before shipping ends), and the privacy topics customers/data_request,
  customers/redact and shop/redact (tracker/privacy/);
  header X-Shopify-Hmac-Sha256 = base64(HMAC-SHA256(intake.shopify_secret, raw body)).
- POST /webhooks/woocommerce  order.created / order.updated with tracking data (the Shipment Tracking
  extension's `_wc_shipment_tracking_items`, or `_tracking_number` + `_tracking_provider` meta); an
  order.created without tracking data registers the order before shipping;
  header X-WC-Webhook-Signature, same scheme with intake.woocommerce_secret.

A bad or missing signature gets 401 and nothing is stored. Deliveries are deduplicated on what is signed
(tracker/shops/versions.py): each state applied once, never an older state over a newer one (answered
200 {"stale": true}). The body is read by tracker/shops/payloads.py and registered by
tracker/shops/intake.py, the same path as the backfill of `tracker shopify connect`; an item the shop
sent that cannot be registered is answered 200 with the reason (a shop retrying it would not fix it),
and logged for support.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re

from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from tracker.db import sessionmaker
from tracker.models import Order, Shipment
from tracker.orders import InputError, refuse_unsafe
from tracker.shops import payloads
from tracker.shops.intake import Delivery, apply
from tracker.shops.payloads import Mapped, text
from tracker.shops.versions import Version
from tracker.web import common
from tracker.web.common import DAEMON

log = logging.getLogger("tracker.intake")

SHOPIFY_TOPICS = {"fulfillments/create", "fulfillments/update"}
# Paid but not shipped yet: the order is registered and its wait before shipping is watched.
SHOPIFY_PAID = "orders/paid"
SHOPIFY_CANCELLED = "orders/cancelled"
# Shopify's mandatory privacy (compliance) topics: tracker/privacy/ answers them
SHOPIFY_PRIVACY = {"customers/data_request", "customers/redact", "shop/redact"}


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


def _seen(source: str, outcome: str, version: Version) -> web.Response:
    if outcome == "stale":
        log.info("%s webhook: an older state of %s than the one applied: ignored", source, version.resource_id)
        return _json(200, stale=True)
    return _json(200, duplicate=True)


async def _apply(request: web.Request, source: str, version: Version, mapped: Mapped) -> web.Response:
    daemon = request.app[DAEMON]
    try:  # text that would forge log lines or turn messages around refuses the whole delivery
        for item in mapped.items:
            for key, value in item.items():
                refuse_unsafe(key, value)
    except InputError as exc:
        return _error(400, exc.field, exc.problem, exc.fix)
    try:
        applied = await apply(daemon.engine, daemon.settings, daemon.clock.now(),
                              [Delivery(version, mapped.items, mapped.status_url)])
    except IntegrityError:
        return _error(409, "(body)", "the same order is being registered by another request", "deliver it again")
    if applied.seen:
        return _seen(source, applied.seen[0], version)
    rejected = [{"tracking_number": item.get("tracking_number"), "field": exc.field, "problem": exc.problem}
                for _, item, exc in applied.rejected]
    registered = []
    for _, reg, o in applied.outcomes:
        if o.error:
            rejected.append({"tracking_number": reg.tracking_number or None, "field": o.error.field,
                             "problem": o.error.problem})
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
                  numbers: list[str] | None) -> web.Response:
    """A cancelled fulfillment (its `numbers`) or order (None: every parcel, and its wait to ship ends):
    stop tracking (nothing more is sent about them)."""
    daemon = request.app[DAEMON]
    now = daemon.clock.now()
    wanted = {n.replace(" ", "").upper() for n in numbers or []}
    async with sessionmaker(daemon.engine)() as session, session.begin():
        seen = await version.claim(daemon.engine, session, now)
        if seen:
            return _seen(source, seen, version)
        query = (select(Shipment.id).join(Order, Order.id == Shipment.order_id)
                 .where(Order.number == (order_number or ""), Shipment.stopped_at.is_(None)))
        if numbers is not None:
            query = query.where(Shipment.tracking_number.in_(wanted))
        ids = list((await session.execute(query)).scalars())
        if numbers is None:
            await session.execute(update(Order).where(Order.number == (order_number or ""),
                                                      Order.cancelled_at.is_(None)).values(cancelled_at=now))
    for sid in ids:
        await common.stop(daemon, sid, f"{source}: {'fulfillment' if numbers is not None else 'order'} cancelled")
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
    if topic in SHOPIFY_PRIVACY:
        from tracker.web.privacy_hooks import shopify_privacy

        return await shopify_privacy(request, topic, body)
    if topic not in SHOPIFY_TOPICS | {SHOPIFY_PAID, SHOPIFY_CANCELLED}:
        return _json(200, ignored=f"topic {topic[:64]!r} is not handled")
    kind = "fulfillment" if topic in SHOPIFY_TOPICS else "order"
    parsed = _shopify_object(body, f"an {kind} object" if kind == "order" else "a fulfillment object", kind)
    if isinstance(parsed, web.Response):
        return parsed
    data, version = parsed
    if topic == SHOPIFY_CANCELLED:
        return await _cancel(request, "shopify", version,
                             payloads.shopify_order_number(text(data.get("name")), data.get("order_number")), None)
    if topic == SHOPIFY_PAID:
        return await _apply(request, "shopify", version, payloads.shopify_paid(data))
    mapped = payloads.shopify_fulfillment(data, settings.intake.carrier_aliases)
    if mapped.cancel is not None:
        return await _cancel(request, "shopify", version, mapped.order_number, mapped.cancel)
    if mapped.ignored:
        return _json(200, ignored=mapped.ignored)
    return await _apply(request, "shopify", version, mapped)


def _shopify_object(body: bytes, what: str, kind: str) -> tuple[dict, Version] | web.Response:
    """The JSON object of a Shopify delivery and its signed version (resource id, updated time), or the
    error to answer."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return _error(400, "(body)", "not valid JSON")
    if not isinstance(data, dict):
        return _error(400, "(body)", f"not {what}")
    return data, Version("shopify", body, text(data.get("id")) and f"{kind}:{text(data.get('id'))}",
                         data.get("updated_at"))


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
    topic = request.headers.get("X-WC-Webhook-Topic", "")
    mapped = payloads.woo_order(data, settings.intake.carrier_aliases, created=topic == "order.created")
    if mapped.ignored:
        return _json(200, ignored=mapped.ignored)
    version = Version("woocommerce", body, text(data.get("id")) and f"order:{text(data.get('id'))}",
                      data.get("date_modified_gmt") or data.get("date_modified"))
    return await _apply(request, "woocommerce", version, mapped)


def setup(app: web.Application) -> None:
    app.router.add_post("/webhooks/shopify", shopify)
    app.router.add_post("/webhooks/woocommerce", woocommerce)
