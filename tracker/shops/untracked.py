"""Parcels no source can track (a carrier no module serves and no default aggregator): still parcels.

A shop's fulfillment naming such a carrier is registered with status not_trackable, the shop's carrier
name and its tracking link. In the same transaction the customer's "shipped" is queued (it names the
shop's carrier and links the shop's tracking page) and support gets one alert per carrier, naming it.
The order has a parcel, so "still preparing" never fires for it; nothing polls it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from tracker import alerts, fallback
from tracker.db import insert_ignore
from tracker.models import Notification, Order, Shipment
from tracker.orders import NOT_TRACKABLE, Registration
from tracker.status import Milestone

CAUSE = "not_trackable"


async def announce(session: AsyncSession, regs: list[Registration], now: datetime) -> int:
    """Queue "shipped" for each new untrackable parcel of `regs` and alert once per carrier. Returns the
    number of parcels announced."""
    pairs = sorted({(r.carrier, r.tracking_number) for r in regs if not r.trackable and r.tracking_number})
    if not pairs:
        return 0
    rows = (await session.execute(
        select(Shipment, Order).join(Order, Order.id == Shipment.order_id)
        .where(tuple_(Shipment.carrier, Shipment.tracking_number).in_(pairs), Shipment.status == NOT_TRACKABLE)
        .order_by(Shipment.id))).all()
    for ship, order in rows:
        wanted = [c for c in order.channel_list if fallback.address(order, c)] if order.erased_at is None else []
        if wanted:
            await session.execute(insert_ignore(session.bind, Notification.__table__, [dict(
                shipment_id=ship.id, order_id=order.id, milestone=Milestone.SHIPPED.value, channel=c, state="queued",
                attempts=0, next_attempt_at=now, created_at=now, updated_at=now) for c in wanted],
                ["shipment_id", "milestone", "channel"]))
        name = ship.carrier_name or ship.carrier
        await alerts.raise_alert(
            session, key=f"{CAUSE}:{ship.carrier}"[:128], cause=CAUSE, carrier=ship.carrier[:32], now=now,
            message=f"carrier {name!r} (first on order {order.number}, {ship.tracking_number}): no tracking source "
                    f"can follow it, so its parcels are kept as not trackable; the customer was told it shipped, "
                    f"with the shop's tracking link. Fix: map the name to a carrier in intake.carrier_aliases, or "
                    f"set sources.default to an aggregator (17track, aftership, easypost)")
    return len(rows)
