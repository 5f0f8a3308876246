"""A shop platform's order or fulfillment -> registration items (pure; no IO, no settings object).

The same functions read a webhook's body (tracker/web/intake.py) and an order fetched by the backfill of
`connect` (Shopify's GraphQL orders are first put in the REST shape its webhooks deliver, by
`rest_order()` / `rest_fulfillments()`), so both paths register the same thing from the same state.
Items hold bulk.FIELDS; validate_item() checks them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tracker.carriers.catalog import AUTO, normalise

# Shopify fulfillment statuses that end a parcel (REST lower case; GraphQL's enum is upper case)
CANCELLED = ("cancelled", "error", "failure")


@dataclass
class Mapped:
    """What one delivery asks for: register `items`, or stop the parcels `cancel` of `order_number`."""

    order_number: str | None
    items: list[dict[str, Any]] = field(default_factory=list)
    cancel: list[str] | None = None
    status_url: str | None = None  # the shop's own order status page (Shopify's order_status_url)
    ignored: str | None = None  # why nothing is to be done


def text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value).strip() or None
    return None


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def country(*addresses: Any, key: str = "country_code") -> str | None:
    """The customer's countries for reading a phone: the shipping address's, then the billing one's
    ("PT,ES"); None when no address names one."""
    codes = [c.upper() for c in (text(_dict(a).get(key)) for a in addresses) if c and re.fullmatch(r"[A-Za-z]{2}", c)]
    return ",".join(dict.fromkeys(codes)) or None


def carrier(aliases: dict[str, str], name: str | None) -> str | None:
    """The shop's carrier text, or what intake.carrier_aliases maps it to (compared normalised). The text
    is kept as the shop wrote it: the customer reads it where it is not tracker's own carrier name."""
    if not name:
        return None
    mapped = {normalise(k): v for k, v in aliases.items()}.get(normalise(name))
    return name.strip() if not mapped or mapped == AUTO else mapped  # auto: the aggregator detects, the name stays


def _https(value: Any) -> str | None:
    url = text(value)
    return url if url and len(url) <= 1000 and re.fullmatch(r"https://[^\s\"'<>]+", url) else None


def shopify_order_number(name: str | None, fallback: Any = None) -> str | None:
    """Shopify's order name "#1001" (a fulfillment's "#1001.1") -> "1001"."""
    return name.rsplit(".", 1)[0].lstrip("#") if name else text(fallback)


def shopify_fulfillment(data: dict, aliases: dict[str, str]) -> Mapped:
    """A REST Fulfillment (fulfillments/create, fulfillments/update): one item per tracking number."""
    name = text(data.get("name"))
    number = name.rsplit(".", 1)[0].lstrip("#") if name else text(data.get("order_id"))
    numbers = data.get("tracking_numbers") or ([data.get("tracking_number")] if data.get("tracking_number") else [])
    if not isinstance(numbers, list):
        numbers = []
    if data.get("status") in CANCELLED:
        return Mapped(number, cancel=[n for n in (text(x) for x in numbers) if n])
    dest = _dict(data.get("destination"))
    urls = data.get("tracking_urls") if isinstance(data.get("tracking_urls"), list) else []
    urls = urls or [data.get("tracking_url")]
    items = [{"order_number": number, "carrier": carrier(aliases, text(data.get("tracking_company"))),
              "tracking_number": text(n), "email": text(data.get("email")), "phone": text(dest.get("phone")),
              "country": country(dest), "tracking_url": _https(urls[i] if i < len(urls) else urls[0])}
             for i, n in enumerate(numbers)]
    items = [i for i in items if i["tracking_number"]]
    return Mapped(number, items, ignored=None if items else "no tracking number in this fulfillment")


def shopify_paid(data: dict) -> Mapped:
    """A REST Order (orders/paid): the order waits for its first parcel."""
    customer, address = _dict(data.get("customer")), _dict(data.get("shipping_address"))
    billing = _dict(data.get("billing_address"))
    number = shopify_order_number(text(data.get("name")), text(data.get("order_number")) or text(data.get("id")))
    item = {"order_number": number,
            "email": text(data.get("email")) or text(customer.get("email")),
            "phone": (text(data.get("phone")) or text(address.get("phone")) or text(billing.get("phone"))
                      or text(customer.get("phone"))),
            "country": country(address, billing)}
    locale = text(data.get("customer_locale"))
    if locale and re.fullmatch(r"[a-zA-Z]{2,3}([-_][a-zA-Z]{2})?", locale):
        lang, _, region = locale.replace("_", "-").partition("-")
        item["locale"] = lang.lower() + (f"-{region.upper()}" if region else "")
    return Mapped(number, [item], status_url=_https(data.get("order_status_url")))


def woo_tracking(order: dict) -> list[tuple[str | None, str, str | None]]:
    out = []
    meta = order.get("meta_data") if isinstance(order.get("meta_data"), list) else []
    by_key = {m.get("key"): m.get("value") for m in meta if isinstance(m, dict)}
    items = by_key.get("_wc_shipment_tracking_items")
    if isinstance(items, list):
        for t in items:
            if isinstance(t, dict) and text(t.get("tracking_number")):
                provider = text(t.get("custom_tracking_provider")) or text(t.get("tracking_provider"))
                out.append((provider, text(t.get("tracking_number")), _https(t.get("custom_tracking_link"))))
    if not out and text(by_key.get("_tracking_number")):
        out.append((text(by_key.get("_tracking_provider")), text(by_key.get("_tracking_number")), None))
    return out


def woo_order(data: dict, aliases: dict[str, str], *, created: bool) -> Mapped:
    """A WooCommerce v3 order (webhook body or REST list item). With tracking data: one item per parcel;
    without: only a newly created order (`created`) is registered, to wait for its parcel."""
    tracking = woo_tracking(data)
    if not tracking and not created:
        return Mapped(None, ignored="no tracking data on this order")
    billing, shipping = _dict(data.get("billing")), _dict(data.get("shipping"))
    number = text(data.get("number")) or text(data.get("id"))
    contact = {"email": text(billing.get("email")), "phone": text(billing.get("phone")) or text(shipping.get("phone")),
               "country": country(shipping, billing, key="country")}
    items = [{"order_number": number, "carrier": carrier(aliases, provider), "tracking_number": n,
              "tracking_url": url, **contact} for provider, n, url in tracking] or [{"order_number": number, **contact}]
    return Mapped(number, items)


# --- Shopify GraphQL (the backfill) -> the REST shapes its webhooks deliver ----------------------

def legacy_id(gid: Any) -> str | None:
    """gid://shopify/Order/450789469 -> 450789469 (the id REST and the webhooks use)."""
    value = text(gid)
    return value.rsplit("/", 1)[-1] if value else None


def _rest_address(node: Any) -> dict:
    node = _dict(node)
    return {"phone": node.get("phone"), "country_code": node.get("countryCodeV2")}


def rest_order(node: dict) -> dict:
    """A GraphQL Order node (the backfill's query) as the REST Order of an orders/paid webhook."""
    customer = _dict(node.get("customer"))
    return {"id": legacy_id(node.get("id")), "name": node.get("name"), "email": node.get("email"),
            "phone": node.get("phone"), "customer_locale": node.get("customerLocale"),
            "order_status_url": node.get("statusPageUrl"), "updated_at": node.get("updatedAt"),
            "shipping_address": _rest_address(node.get("shippingAddress")),
            "billing_address": _rest_address(node.get("billingAddress")),
            "customer": {"email": customer.get("email"), "phone": customer.get("phone")}}


def rest_fulfillments(node: dict) -> list[dict]:
    """The GraphQL Order node's fulfillments as REST Fulfillments (fulfillments/create webhooks)."""
    out = []
    for f in node.get("fulfillments") or []:
        if not isinstance(f, dict):
            continue
        infos = [i for i in f.get("trackingInfo") or [] if isinstance(i, dict)]
        out.append({"id": legacy_id(f.get("id")), "order_id": legacy_id(node.get("id")), "name": f.get("name"),
                    "status": (text(f.get("status")) or "").lower(), "updated_at": f.get("updatedAt"),
                    "tracking_company": infos[0].get("company") if infos else None,
                    "tracking_numbers": [i.get("number") for i in infos if text(i.get("number"))],
                    "tracking_urls": [i.get("url") for i in infos if text(i.get("url"))],
                    "email": node.get("email"), "destination": _rest_address(node.get("shippingAddress")),
                    "shipment_status": f.get("displayStatus")})
    return out
