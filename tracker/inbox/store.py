"""Receiving a push: stored durably, or told plainly that it was not."""

from __future__ import annotations

import asyncio
import logging
import weakref
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


_PENDING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine -> pushes waiting to be stored
_FLUSHERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
MAX_GROUP = 500


async def _store(engine, source: str, event_id: str, key: str, body: bytes, now: datetime) -> bool:
    """Pushes arriving together are stored together: one transaction (one INSERT) for the group, each
    push answered once that transaction committed. Less CPU per push and, on PostgreSQL, one connection
    for the group instead of one each."""
    done = asyncio.get_running_loop().create_future()
    _PENDING.setdefault(engine.sync_engine, []).append((dict(
        source=source, event_id=event_id, key=key, body=body, state="pending", attempts=0, next_try_at=now,
        received_at=now), done))
    flusher = _FLUSHERS.get(engine.sync_engine)
    if flusher is None or flusher.done():
        _FLUSHERS[engine.sync_engine] = asyncio.ensure_future(_flush(engine))
    return await asyncio.shield(done)  # a caller that gives up (timeout) leaves the group's write alone


async def _flush(engine) -> None:
    pending = _PENDING[engine.sync_engine]
    while pending:
        group, pending[:] = pending[:MAX_GROUP], pending[MAX_GROUP:]
        try:
            stored = await _write(engine, [row for row, _ in group])
        except Exception as exc:
            for _, done in group:
                if not done.done():
                    done.set_exception(exc)
            continue
        for row, done in group:
            if not done.done():
                done.set_result(stored.pop((row["source"], row["event_id"]), False))


async def _write(engine, rows: list[dict]) -> dict[tuple[str, str], bool]:
    """Store the rows whose event was never received; (source, event id) -> True for those stored now."""
    async with write_lock(engine), sessionmaker(engine)() as session, session.begin():
        applied = set((await session.execute(select(WebhookEvent.source, WebhookEvent.event_id).where(
            WebhookEvent.event_id.in_({r["event_id"] for r in rows})))).all())
        fresh, seen = [], set(applied)
        for r in rows:
            if (r["source"], r["event_id"]) not in seen:  # a retry arriving with its original: once
                seen.add((r["source"], r["event_id"]))
                fresh.append(r)
        if not fresh:
            return {}
        result = await session.execute(
            insert_ignore(engine, PushInbox.__table__, fresh, ["source", "event_id"])
            .returning(PushInbox.source, PushInbox.event_id))
        return {tuple(r): True for r in result.all()}


async def gauges(session, now: datetime) -> dict[str, float]:
    """Depth of the inbox (pending pushes), age of its oldest pending push, pushes kept as failed."""
    depth, oldest = (await session.execute(select(func.count(), func.min(PushInbox.received_at))
                                           .where(PushInbox.state == "pending"))).one()
    failed = (await session.execute(select(func.count()).where(PushInbox.state == "failed"))).scalar_one()
    oldest = as_time(oldest)
    return {"depth": depth, "age": max(0.0, (now - oldest).total_seconds()) if oldest else 0.0, "failed": failed}
