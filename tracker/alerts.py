"""Support alerts: raised once per key (shipment or carrier, and cause), kept until acknowledged."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tracker.db import insert_ignore
from tracker.models import Alert

log = logging.getLogger("tracker.alerts")


async def raise_alert(session: AsyncSession, *, key: str, cause: str, message: str, now: datetime,
                      shipment_id: int | None = None, carrier: str | None = None) -> bool:
    """Insert the alert unless one with the same key exists. Returns True when it is new."""
    stmt = insert_ignore(session.bind, Alert.__table__, [dict(
        key=key, cause=cause, message=message, created_at=now, shipment_id=shipment_id, carrier=carrier,
    )], ["key"])
    result = await session.execute(stmt)
    new = bool(result.rowcount)
    if new:
        log.warning("support alert [%s] %s", cause, message)
    return new
