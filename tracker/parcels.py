"""Orders with several parcels: which parcel a message is about, and what it may say. Pure: no IO.

An order's parcels are its shipments in the order they were registered ("parcel 1 of 2"). News about
one parcel says which one it is; "your order has been delivered" is true only once every parcel is:

- a parcel delivered while others still travel gets a per-parcel note ("parcel 1 of 2 delivered");
- the parcel that completes the order gets the order-level "delivered" (every parcel is there);
- a parcel delivered together with (or before) the one that completes the order, whose note has not gone
  out yet, says nothing more: the order-level message covers it, so the customer hears "delivered" once.

A stopped parcel (tracking stopped, e.g. a cancelled fulfillment) is no longer counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

# Milestones whose wording changes when the order has several parcels: their templates are parcel_<m>.
PER_PARCEL = frozenset({"shipped", "out_for_delivery", "delivered", "failed_attempt", "available_for_pickup",
                        "exception", "delayed", "silent"})
ORDER_DELIVERED = "order_delivered"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class Parcel:
    id: int
    status: str
    delivered_at: datetime | None = None
    stopped: bool = False


@dataclass(frozen=True, slots=True)
class ParcelView:
    index: int  # 1-based, in registration order
    count: int
    delivered: int  # parcels of the order delivered so far (this one included)
    completes_order: bool  # every parcel is delivered, and this is the one that arrived last

    @property
    def several(self) -> bool:
        return self.count > 1

    @property
    def remaining(self) -> int:
        return self.count - self.delivered


def view_of(parcels: Iterable[Parcel], ship_id: int) -> ParcelView:
    """Where parcel `ship_id` stands among its order's parcels."""
    counted = sorted((p for p in parcels if not p.stopped or p.id == ship_id), key=lambda p: p.id)
    ids = [p.id for p in counted]
    if ship_id not in ids:
        return ParcelView(1, 1, 0, False)
    done = [p for p in counted if p.status == "delivered"]
    last = max(done, key=lambda p: (p.delivered_at or EPOCH, p.id)) if done else None
    complete = len(done) == len(counted)
    return ParcelView(ids.index(ship_id) + 1, len(counted), len(done),
                      complete and last is not None and last.id == ship_id)


def template_for(milestone: str, view: ParcelView) -> str | None:
    """The template of a parcel's milestone, or None when it must not go out (see the module doc)."""
    if not view.several or milestone not in PER_PARCEL:
        return milestone
    if milestone == "delivered":
        if view.completes_order:
            return ORDER_DELIVERED
        if view.remaining == 0:
            return None
    return f"parcel_{milestone}"
