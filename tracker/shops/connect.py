"""`tracker shopify connect` and `tracker woocommerce connect`: webhooks, backfill, and what is left to do.

Both check everything first (settings, credentials, access scopes), so a refusal writes nothing; then
make the webhooks tracker needs that are missing, then register the orders of the last N days that still
matter (paid and waiting to ship, or shipped and not delivered) through tracker/shops/intake.py, the
webhooks' own path, BATCH orders (several pages of the API) a transaction. Running it again changes nothing:
webhooks are found by topic and address, and each order's and fulfillment's state is claimed once
(shops/versions.py).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import aiohttp

from tracker.clock import SYSTEM, Clock
from tracker.config import Settings
from tracker.shops import payloads
from tracker.shops.intake import Delivery, apply
from tracker.shops.shopify import PAID, PRIVACY_TOPICS, TOPICS, Admin, AdminError, fulfillment_open
from tracker.shops.versions import Version
from tracker.shops.woocommerce import Rest

MAX_DAYS = 365
BATCH = 500  # orders registered per transaction (several API pages): SQLite's one writer waits for one at most
ALL_ORDERS_DAYS = 60  # Shopify shows older orders only to apps with read_all_orders


@dataclass
class Report:
    platform: str
    shop: str = ""
    webhook_uri: str = ""
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)
    elsewhere: list[tuple[str, str]] = field(default_factory=list)
    days: float = 0
    backfilled: bool = False
    orders: int = 0  # orders looked at
    parcels: int = 0  # new parcels registered
    waiting: int = 0  # new orders registered before shipping
    known: int = 0  # orders whose state tracker already had (webhooks or an earlier run)
    skipped: dict[str, int] = field(default_factory=dict)  # why an order needed nothing
    rejected: list[tuple[str, str, str]] = field(default_factory=list)  # (order number, field, problem)
    seconds: float = 0.0
    requests: int = 0
    points: float = 0.0  # Shopify: actual query cost spent
    waited: float = 0.0  # Shopify: seconds waited for the rate limit
    throttled: int = 0

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1


def public_webhook_url(settings: Settings, platform: str, *, https_only: bool) -> str:
    url = settings.server.public_url.strip().rstrip("/")
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise AdminError("server.public_url", f"{url!r} is not a web address",
                         "set it to the https:// address the shop can reach this daemon at")
    if https_only and parts.scheme != "https":
        raise AdminError("server.public_url", f"{url!r} is not https://, and {platform} delivers webhooks "
                         "only to HTTPS addresses", "serve tracker behind HTTPS and set server.public_url to it")
    if host in ("localhost", "127.0.0.1", "::1", "0.0.0.0") or host.startswith("127.") or host.endswith(".localhost"):
        raise AdminError("server.public_url", f"{url!r} points at this machine; {platform} could not deliver to it",
                         "set it to the public address of this daemon")
    return f"{url}/webhooks/{platform}"


def _days(days: float) -> float:
    if not 0 < days <= MAX_DAYS:
        raise AdminError("--days", f"{days:g} is out of range", f"give a number of days from 1 to {MAX_DAYS}")
    return days


def shopify_checked(settings: Settings) -> str:
    """The webhook address, once every setting connect needs is there and consistent."""
    s = settings.shopify
    if not s.shop:
        raise AdminError("shopify.shop", "is empty", "set it to the shop's domain, e.g. casa-azul.myshopify.com")
    if s.access_token and (s.client_id or s.client_secret):
        raise AdminError("shopify.access_token", "is given together with shopify.client_id/client_secret",
                         "give either an Admin API access token or a client ID and secret, not both")
    if not s.access_token and not (s.client_id and s.client_secret):
        missing = "shopify.client_secret" if s.client_id else "shopify.client_id" if s.client_secret \
            else "shopify.access_token"
        raise AdminError(missing, "is empty", "give the custom app's Admin API access token, or the Dev Dashboard "
                         "app's client ID and client secret (from the environment: ${SHOPIFY_...})")
    secret = settings.intake.shopify_secret
    if not secret:
        raise AdminError("intake.shopify_secret", "is empty, so tracker would refuse every webhook Shopify sends",
                         "set it to the app's client secret (API secret key)")
    if s.client_secret and secret != s.client_secret:
        raise AdminError("intake.shopify_secret", "differs from shopify.client_secret, but Shopify signs this "
                         "app's webhooks with its client secret", "set intake.shopify_secret to the same value")
    return public_webhook_url(settings, "shopify", https_only=True)


def woocommerce_checked(settings: Settings) -> str:
    s = settings.woocommerce
    if not s.url:
        raise AdminError("woocommerce.url", "is empty", "set it to the shop's address, e.g. https://loja.example")
    for key in ("consumer_key", "consumer_secret"):
        if not getattr(s, key):
            raise AdminError(f"woocommerce.{key}", "is empty", "make REST API keys with Read/Write permissions in "
                             "WooCommerce > Settings > Advanced > REST API, and give them from the environment")
    if not settings.intake.woocommerce_secret:
        raise AdminError("intake.woocommerce_secret", "is empty, so tracker would refuse every webhook",
                         "set it to a long random secret: connect gives it to the webhooks it makes")
    return public_webhook_url(settings, "woocommerce", https_only=False)


def _quiet(problem: str) -> str:
    return re.sub(r"'[^']*'", "'…'", problem)  # never a customer's email or phone in the output


def _body(node: dict) -> bytes:
    return json.dumps(node, sort_keys=True, default=str).encode()


def shopify_deliveries(node: dict, aliases: dict[str, str], report: Report) -> list[Delivery]:
    """What one GraphQL order asks to register, as its webhooks would have (pure but for the tally)."""
    order = payloads.rest_order(node)
    if node.get("cancelledAt"):
        report.skip("cancelled")
        return []
    fulfillments = payloads.rest_fulfillments(node)
    # a parcel sent without a tracking number is a parcel all the same (not trackable), as its webhook makes it
    shipped = [f for f in fulfillments if f["tracking_numbers"] or f["status"] not in payloads.CANCELLED]
    moving = [f for f in shipped if fulfillment_open(f)]
    if shipped and not moving:
        report.skip("delivered or cancelled parcels")
        return []
    if not shipped and str(node.get("displayFinancialStatus") or "").upper() not in PAID:
        report.skip("not paid")
        return []
    paid = payloads.shopify_paid(order)
    out = [Delivery(Version("shopify", lambda: _body(order), order["id"] and f"order:{order['id']}", order["updated_at"]),
                    paid.items, paid.status_url)]
    for f in moving:
        mapped = payloads.shopify_fulfillment(f, aliases)
        for item in mapped.items:  # the order's item just before gives them (read once, not once a parcel)
            item.pop("email", None), item.pop("phone", None)
        if mapped.items:
            out.append(Delivery(Version("shopify", lambda f=f: _body(f), f["id"] and f"fulfillment:{f['id']}", f["updated_at"]),
                                mapped.items, paid.status_url))
    return out


async def _register(engine, settings: Settings, clock: Clock, report: Report, per_order: list[list[Delivery]]) -> None:
    """Some orders in one transaction; an order counts as known when each of its states was seen."""
    deliveries, groups = [], []
    for group in per_order:
        if group:
            groups.append(range(len(deliveries), len(deliveries) + len(group)))
            deliveries += group
    if not deliveries:
        return
    applied = await apply(engine, settings, clock.now(), deliveries, load=False)
    report.known += sum(1 for g in groups if all(d in applied.seen for d in g))
    new_orders, shipped = set(), set()
    for _, reg, outcome in applied.outcomes:
        if outcome.error is not None:
            report.rejected.append((reg.order_number, outcome.error.field, _quiet(outcome.error.problem)))
            continue
        if reg.tracking_number:
            shipped.add(reg.order_number)
            report.parcels += outcome.created
        if outcome.new_order:
            new_orders.add(reg.order_number)
    report.waiting += len(new_orders - shipped)
    for _, item, exc in applied.rejected:
        report.rejected.append((str(item.get("order_number")), exc.field, _quiet(exc.problem)))


async def shopify_connect(engine, settings: Settings, *, days: float = 30, backfill: bool = True,
                          progress: Callable[[int, int], None] | None = None, clock: Clock = SYSTEM,
                          http: aiohttp.ClientSession | None = None, page_size: int | None = None) -> Report:
    uri = shopify_checked(settings)
    days = _days(days)
    began = time.monotonic()
    report = Report("shopify", webhook_uri=uri, days=days)
    own = http is None
    http = http or aiohttp.ClientSession()
    try:
        admin = Admin(settings.shopify, http, clock=clock)
        report.shop = await admin.check()
        if backfill and days > ALL_ORDERS_DAYS and "read_all_orders" not in admin.scopes:
            raise AdminError("--days", f"Shopify shows orders older than {ALL_ORDERS_DAYS} days only to apps with "
                             "the read_all_orders scope", f"backfill at most {ALL_ORDERS_DAYS} days, or ask Shopify "
                             "for read_all_orders")
        hooks = await admin.ensure_webhooks(uri)
        report.created, report.kept, report.elsewhere = hooks.created, hooks.kept, hooks.elsewhere
        if backfill:
            report.backfilled = True
            since = clock.now() - timedelta(days=days)
            total = await _shopify_count(admin, since) if progress else 0
            if progress:
                progress(0, max(total, 1))
            aliases = settings.intake.carrier_aliases
            waiting: list[list[Delivery]] = []
            async for nodes in admin.orders(since, page_size=page_size):
                report.orders += len(nodes)
                waiting += [shopify_deliveries(n, aliases, report) for n in nodes]
                if len(waiting) >= BATCH:
                    await _register(engine, settings, clock, report, waiting)
                    waiting = []
                if progress:
                    progress(report.orders, max(total, report.orders + 1))
            await _register(engine, settings, clock, report, waiting)
            if progress:
                progress(report.orders, report.orders)
        report.requests, report.points = admin.queries, admin.points
        report.waited, report.throttled = admin.bucket.waited, admin.bucket.throttled
    finally:
        if own:
            await http.close()
    report.seconds = time.monotonic() - began
    return report


async def _shopify_count(admin: Admin, since: datetime) -> int:
    search = f"created_at:>='{since.strftime('%Y-%m-%dT%H:%M:%SZ')}' AND -status:cancelled"
    try:
        answer = await admin.graphql("query Count($q: String) { ordersCount(query: $q, limit: null) { count } }",
                                     {"q": search}, expected_cost=2)
    except AdminError:
        return 0  # only the progress bar needs it
    return int((answer.data.get("ordersCount") or {}).get("count") or 0)


def woocommerce_deliveries(order: dict, aliases: dict[str, str], report: Report) -> list[Delivery]:
    mapped = payloads.woo_order(order, aliases, created=order.get("status") == "processing")
    if mapped.ignored:
        report.skip("completed without tracking data")
        return []
    version = Version("woocommerce", lambda: _body(order), order.get("id") and f"order:{order['id']}",
                      order.get("date_modified_gmt") or order.get("date_modified"))
    return [Delivery(version, mapped.items)]


async def woocommerce_connect(engine, settings: Settings, *, days: float = 30, backfill: bool = True,
                              progress: Callable[[int, int], None] | None = None, clock: Clock = SYSTEM,
                              http: aiohttp.ClientSession | None = None) -> Report:
    uri = woocommerce_checked(settings)
    days = _days(days)
    began = time.monotonic()
    report = Report("woocommerce", shop=settings.woocommerce.url, webhook_uri=uri, days=days)
    own = http is None
    http = http or aiohttp.ClientSession()
    try:
        rest = Rest(settings.woocommerce, http)
        await rest.check()
        hooks = await rest.ensure_webhooks(uri, settings.intake.woocommerce_secret)
        report.created, report.kept, report.reactivated = hooks.created, hooks.kept, hooks.reactivated
        if backfill:
            report.backfilled = True
            aliases = settings.intake.carrier_aliases
            waiting = []
            async for orders, total in rest.orders(clock.now() - timedelta(days=days)):
                if progress and not report.orders:
                    progress(0, max(total, 1))
                report.orders += len(orders)
                waiting += [woocommerce_deliveries(o, aliases, report) for o in orders]
                if len(waiting) >= BATCH:
                    await _register(engine, settings, clock, report, waiting)
                    waiting = []
                if progress:
                    progress(report.orders, max(total, report.orders))
            await _register(engine, settings, clock, report, waiting)
        report.requests = rest.requests
    finally:
        if own:
            await http.close()
    report.seconds = time.monotonic() - began
    return report


# --- what the merchant reads ------------------------------------------------------------------------

SHOPIFY_SWITCH_OFF = """\
Switch off Shopify's own shipping messages, or customers hear every step twice:
  Shopify admin > Settings > Notifications > Customer notifications, under "Shipping":
    - Shipping confirmation   (sent when you fulfil an order with a tracking number)
    - Shipping update         (sent when a tracking number changes)
    - Out for delivery        (sent when Shopify hears it from the carrier)
    - Delivered               (sent when Shopify hears it from the carrier)
  Where one cannot be turned off there, untick "Send notification to customer" each time you fulfil or
  edit tracking (apps that fulfil through the API: notifyCustomer false). Keep "Order confirmation": tracker
  does not send one."""

SHOPIFY_PRIVACY_NOTE = """\
Privacy webhooks: Shopify requires apps in its App Store to answer customers/data_request, customers/redact
and shop/redact. They are not made through the API: declare them in the app's configuration
(shopify.app.toml: [webhooks] [[webhooks.subscriptions]] compliance_topics = ["customers/data_request",
"customers/redact", "shop/redact"] uri = "{uri}"), or in the app's settings in the Dev Dashboard
(Partner Dashboard: App setup > Compliance webhooks). tracker answers them at that address either way."""

WOO_SWITCH_OFF = """\
Switch off WooCommerce's own shipping emails, or customers hear "shipped" twice:
  WooCommerce > Settings > Emails > "Completed order" > untick "Enable this email notification"
  (WooCommerce sends it when an order is marked completed; the Shipment Tracking extension puts the
  tracking number in it). Tracking plugins send their own too: Advanced Shipment Tracking ("Shipped",
  "Delivered" and other status emails under its Settings), AfterShip, YITH Order Tracking: turn those off.
  Keep "Processing order" (the order confirmation): tracker does not send one."""


def format_report(report: Report, settings: Settings) -> str:
    lines = []
    if report.platform == "shopify":
        lines.append(f"Shopify shop {report.shop}: webhooks to {report.webhook_uri}")
        names = TOPICS
    else:
        lines.append(f"WooCommerce shop {report.shop}: webhooks to {report.webhook_uri}")
        names = {t: t for t in report.created + report.kept + report.reactivated}
    for topic in report.created:
        lines.append(f"  created   {names.get(topic, topic)}")
    for topic in report.reactivated:
        lines.append(f"  turned on {names.get(topic, topic)} (it was disabled or paused)")
    for topic in report.kept:
        lines.append(f"  kept      {names.get(topic, topic)} (already there)")
    for topic, uri in report.elsewhere:
        lines.append(f"  note: a {names.get(topic, topic)} webhook also goes to {uri}; delete it if that address "
                     "is an old one of tracker")
    if report.backfilled:
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(report.skipped.items())) or "none"
        lines.append(f"Backfill of the orders of the last {report.days:g} days: {report.orders} looked at, "
                     f"{report.parcels} parcels registered, {report.waiting} orders waiting to ship registered, "
                     f"{report.known} already known, {len(report.rejected)} refused; needing nothing: {skipped}.")
        for number, fld, problem in report.rejected[:50]:
            lines.append(f"  order {number}: {fld}: {problem}")
        if len(report.rejected) > 50:
            lines.append(f"  ... and {len(report.rejected) - 50} more")
        if report.platform == "shopify":
            lines.append(f"  ({report.seconds:.1f} s, {report.requests} Admin API queries, {report.points:.0f} cost "
                         f"points, {report.waited:.1f} s waited for Shopify's rate limit)")
    else:
        lines.append("No backfill (--no-backfill): orders from before now are not registered.")
    if report.platform == "shopify":
        link = ("Messages link Shopify's order status page (shopify.message_link: order_status) where tracker "
                "knows it, else tracker's page.") if settings.shopify.message_link == "order_status" else \
            "Messages link tracker's page (/t/...); set shopify.message_link: order_status to link Shopify's " \
            "order status page instead."
        lines += [link, "", SHOPIFY_SWITCH_OFF, "", SHOPIFY_PRIVACY_NOTE.format(uri=report.webhook_uri)]
        lines += ["", f"Shopify signs these webhooks with the app's client secret (API secret key): "
                  "intake.shopify_secret must hold it."]
    else:
        lines += ["", WOO_SWITCH_OFF]
    lines.append("Running connect again changes nothing that is already in place.")
    return "\n".join(lines)


__all__ = ["PRIVACY_TOPICS", "Report", "format_report", "shopify_connect", "woocommerce_connect"]
