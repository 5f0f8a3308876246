"""A customer's "report a problem" from the delivered page: a support alert until the conversations
engineer's `open_case` takes it (the lead rewires `report_problem` at merge).

The customer's words are kept as written for support, with any phone number or email in them masked
(they reach support's email and chat, not only the console).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from tracker import alerts, redact
from tracker.db import sessionmaker

KINDS = {"not_received": "the parcel did not arrive", "damaged": "the parcel arrived damaged",
         "missing_items": "items are missing from the parcel", "other": "something else"}
MESSAGE_MAX = 1000


class BadReport(ValueError):
    """A report that cannot be kept: names the field and the fix."""


async def report_problem(engine: AsyncEngine, *, shipment_id: int, order_number: str, tracking_number: str,
                         kind: str, message: str, now: datetime) -> None:
    """Keep the customer's report as a support alert (one per shipment and minute: a double submit is one)."""
    if kind not in KINDS:
        raise BadReport(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    text = " ".join((message or "").split())[:MESSAGE_MAX]
    said = f': "{redact.text(text)}"' if text else " (no words added)"
    async with sessionmaker(engine)() as session, session.begin():
        await alerts.raise_alert(
            session, key=f"problem:{shipment_id}:{now:%Y%m%d%H%M}", cause="customer_problem", shipment_id=shipment_id,
            now=now, message=f"order {order_number}, parcel {tracking_number}: the customer reports that {KINDS[kind]}"
                             f"{said}. They were told on the page that support will write back; answer them.")
