"""A customer's "report a problem" from the delivered page: a support case (tracker.conversations), shown
at the top of the console's "Needs attention" with one support alert, answered from the order's page.

The customer's words are kept as written for support, with any phone number or email in them masked
(they reach support's email and chat, not only the console).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from tracker import redact
from tracker.conversations.cases import open_case
from tracker.db import sessionmaker

KINDS = {"not_received": "the parcel did not arrive", "damaged": "the parcel arrived damaged",
         "missing_items": "items are missing from the parcel", "other": "something else"}
MESSAGE_MAX = 1000
# the case reason each answer of the page's form opens (tracker/conversations/cases.py REASONS)
CASE_REASON = {"not_received": "not_received", "damaged": "damaged", "missing_items": "problem", "other": "problem"}


class BadReport(ValueError):
    """A report that cannot be kept: names the field and the fix."""


async def report_problem(engine: AsyncEngine, *, order_id: int, shipment_id: int, tracking_number: str,
                         kind: str, message: str, now: datetime) -> None:
    """Open (or add to) the order's case from the page: one case and one alert however often it is sent."""
    if kind not in KINDS:
        raise BadReport(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    text = redact.text(" ".join((message or "").split())[:MESSAGE_MAX])
    said = f': "{text}"' if text else " (no words added)"
    async with sessionmaker(engine)() as session, session.begin():
        await open_case(session, reason=CASE_REASON[kind], source="page", order_id=order_id, shipment_id=shipment_id,
                        summary=f"{KINDS[kind]}{said}", now=now,
                        detail=f"; parcel {tracking_number}: {KINDS[kind]}{said}. They were told on the page that "
                               f"support will write back")
