"""Support's search: every order, with or without parcels, by order number, email, phone or tracking number.

One statement, a UNION of lookups each served by its own index, so a search costs what it finds, not
what exists (a million shipments: see bench/search.py and docs/benchmarks.md):
    orders.number = q                       (ix_orders_number, unique)
    orders.email_folded = lower(q)          (ix_orders_email_folded: emails are found whatever their case)
    orders.phone = E.164 of q               (ix_orders_phone; any common formatting, read in the shop's region)
    shipments.tracking_number = Q           (ix_shipments_tracking_number; spaces dropped, upper case)
then the orders found and their parcels by primary key and order id. An OR over the join of the two
tables instead scans one of them whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select, union
from sqlalchemy.ext.asyncio import AsyncSession

from tracker.models import Order, Shipment
from tracker.orders import InputError, normalize_phone

MAX_QUERY = 254
_PHONE_LIKE = re.compile(r"[+()\d\s.\-/]{6,30}")


@dataclass(frozen=True, slots=True)
class Keys:
    """What one typed query is looked up as."""

    number: str
    email: str | None
    phone: str | None
    tracking: str | None


def keys(query: str, region: str) -> Keys | None:
    """The lookups of a query (None: nothing to look up). Pure."""
    q = (query or "").strip()
    if not q or len(q) > MAX_QUERY:
        return None
    phone = None
    if _PHONE_LIKE.fullmatch(q) and sum(c.isdigit() for c in q) >= 6:
        try:
            phone = normalize_phone(q, region)
        except InputError:
            phone = None
    tracking = re.sub(r"\s+", "", q).upper()
    return Keys(number=q[:64], email=q.lower() if "@" in q else None, phone=phone,
                tracking=tracking if 0 < len(tracking) <= 64 else None)


def order_ids(k: Keys):
    """The UNION of indexed lookups giving the ids of the matching orders."""
    parts = [select(Order.id).where(Order.number == k.number)]
    if k.email:
        parts.append(select(Order.id).where(Order.email_folded == k.email))
    if k.phone:
        parts.append(select(Order.id).where(Order.phone == k.phone))
    if k.tracking:
        parts.append(select(Shipment.order_id.label("id")).where(Shipment.tracking_number == k.tracking))
    return union(*parts)


async def search(session: AsyncSession, query: str, region: str, limit: int = 50) -> list[tuple[Order, Shipment | None]]:
    """(order, parcel) pairs matching `query`, an order without a parcel as (order, None); by order number,
    then parcel."""
    k = keys(query, region)
    if k is None:
        return []
    ids = [i for (i,) in await session.execute(order_ids(k).limit(limit))]
    if not ids:
        return []
    rows = await session.execute(
        select(Order, Shipment).outerjoin(Shipment, Shipment.order_id == Order.id).where(Order.id.in_(ids))
        .order_by(Order.number, Shipment.id).limit(limit))
    return [(o, s) for o, s in rows]
