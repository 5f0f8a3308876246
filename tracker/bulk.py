"""Many registrations at once, for every intake (HTTP API, CSV import, shop webhooks).

Each item goes through `orders.validate()` then `orders.register()`. Conflicts that `register()` would
refuse (a tracking number already on another order, in the database or earlier in the same batch) are
found first, so one bad item never leaves the others half-written: the batch commits every good item and
reports every bad one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tracker.config import Settings
from tracker.models import Order, Shipment
from tracker.orders import InputError, Registration, register, validate
from tracker.routing import accepted_carriers, router

FIELDS = ("order_number", "carrier", "tracking_number", "email", "phone", "locale", "timezone", "channels")


@dataclass(slots=True)
class Outcome:
    index: int
    error: InputError | None = None
    order: Order | None = None
    shipment: Shipment | None = None  # None: the order was registered before shipping, waiting for a parcel
    created: bool = False


def field_name(key: str) -> str:
    """A field name fit to show back in an error (never empty, never huge)."""
    return key[:64] if key.strip() else "(unnamed field)"


def validate_item(settings: Settings, data: dict[str, Any]) -> Registration:
    """validate() with the shop's defaults. `data` holds the FIELDS; anything else is refused."""
    for key, value in data.items():
        if key not in FIELDS:
            raise InputError(field_name(key), f"{key[:64]!r} is not a known field", f"use only {', '.join(FIELDS)}")
        if key == "channels":
            if value is not None and not isinstance(value, str | list):
                raise InputError(key, "must be a list such as [\"sms\", \"email\"] or a string \"sms,email\"",
                                 "send a list of channel names")
            if isinstance(value, list) and not all(isinstance(v, str) for v in value):
                raise InputError(key, "holds something other than channel names", "use \"sms\" and/or \"email\"")
        elif value is not None and not isinstance(value, str):
            raise InputError(key, f"must be a string, not {type(value).__name__}", "send it as a JSON string")
        elif isinstance(value, str) and ("\x00" in value or len(value) > 1000):
            raise InputError(key, "is too long or holds a NUL character", "send the plain value")
    s = settings.shop
    return validate(
        order_number=data.get("order_number"), carrier=data.get("carrier"),
        tracking_number=data.get("tracking_number"), email=data.get("email"), phone=data.get("phone"),
        locale=data.get("locale"), timezone=data.get("timezone"), channels=data.get("channels"),
        known_carriers=accepted_carriers(settings), route=router(settings), default_locale=s.default_locale,
        default_channels=s.default_channels, default_region=s.default_region)


async def register_batch(session: AsyncSession, items: list[tuple[int, Registration]], now: datetime, *,
                         first_check_seconds: float = 0) -> list[Outcome]:
    """Register every item in the caller's transaction; conflicting ones come back with an error."""
    owner: dict[tuple[str, str], str] = {}
    numbers = sorted({reg.tracking_number for _, reg in items})
    for i in range(0, len(numbers), 500):
        rows = await session.execute(
            select(Shipment.carrier, Shipment.tracking_number, Order.number)
            .join(Order, Order.id == Shipment.order_id)
            .where(Shipment.tracking_number.in_(numbers[i:i + 500])))
        for carrier, tracking, order_number in rows:
            owner[(carrier, tracking)] = order_number
    out: list[Outcome] = []
    for index, reg in items:
        key = (reg.carrier, reg.tracking_number)
        holder = owner.get(key) if reg.tracking_number else None
        if holder is not None and holder != reg.order_number:
            out.append(Outcome(index, InputError(
                "tracking_number", f"{reg.tracking_number} is already registered for order {holder}",
                "check the number, or register it on that order")))
            continue
        try:
            order, ship, created = await register(session, reg, now, first_check_seconds=first_check_seconds)
        except InputError as exc:
            out.append(Outcome(index, exc))
            continue
        if reg.tracking_number:
            owner[key] = reg.order_number
        out.append(Outcome(index, None, order, ship, created))
    return out
