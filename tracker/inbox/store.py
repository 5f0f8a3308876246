"""Receiving a push: stored durably, or told plainly that it was not."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlalchemy import func, select

from tracker.carrier_health import as_time
from tracker.db import insert_ignore, sessionmaker, write_lock
from tracker.models import PushInbox, WebhookEvent

log = logging.getLogger("tracker.inbox")


class NotStored(Exception):
    """The database could not store the push right now (locked, unreachable): answer 503, never 200."""


async def receive(engine, *, source: str, event_id: str, key: str, body: bytes, now: datetime,
                  timeout: float) -> bool:
    """Store one verified push. True: stored now; False: this event was received before (a retry).
    Raises NotStored when it cannot be stored within `timeout` seconds."""
    try:
        return await asyncio.wait_for(_store(engine, source, event_id[:128], key[:128], body, now), timeout)
    except asyncio.TimeoutError:
        raise NotStored(f"the database did not take the push within {timeout:g} s") from None
    except Exception as exc:  # locked, connection refused or cut: the source retries on a 503
        raise NotStored(type(exc).__name__) from None


async def _store(engine, source: str, event_id: str, key: str, body: bytes, now: datetime) -> bool:
    async with write_lock(engine), sessionmaker(engine)() as session, session.begin():
        applied = (await session.execute(select(WebhookEvent.id).where(
            WebhookEvent.source == source, WebhookEvent.event_id == event_id))).first()
        if applied is not None:  # applied before the inbox existed, or its inbox row was pruned
            return False
        result = await session.execute(insert_ignore(engine, PushInbox.__table__, [dict(
            source=source, event_id=event_id, key=key, body=body, state="pending", attempts=0,
            next_try_at=now, received_at=now)], ["source", "event_id"]))
        return bool(result.rowcount)


async def gauges(session, now: datetime) -> dict[str, float]:
    """Depth of the inbox (pending pushes), age of its oldest pending push, pushes kept as failed."""
    depth, oldest = (await session.execute(select(func.count(), func.min(PushInbox.received_at))
                                           .where(PushInbox.state == "pending"))).one()
    failed = (await session.execute(select(func.count()).where(PushInbox.state == "failed"))).scalar_one()
    oldest = as_time(oldest)
    return {"depth": depth, "age": max(0.0, (now - oldest).total_seconds()) if oldest else 0.0, "failed": failed}
