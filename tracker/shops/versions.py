"""Which state of a shop resource (a Shopify order or fulfillment, a WooCommerce order) was applied.

Deliveries are deduplicated on what is signed, never on a delivery-id header: the resource's id and its
update time in the body (ShopResource, written in the same transaction as the registrations) apply each
state once and never an older state over a newer one; a body without them is applied once per body (its
hash, WebhookEvent). The backfill of `connect` claims the same keys, so a webhook and the backfill never
apply one state twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from tracker.db import insert_ignore, is_sqlite
from tracker.models import ShopResource, WebhookEvent


def when(value: Any) -> datetime | None:
    """An ISO 8601 time from the shop (without an offset: UTC, as WooCommerce's *_gmt fields are)."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


class Version:
    """What identifies one state of a shop resource, from the signed body."""

    def __init__(self, source: str, body: bytes | Callable[[], bytes], resource_id: str | None, updated: Any) -> None:
        self.source, self.resource_id = source, (resource_id or "")[:64]
        self.updated_at = when(updated) if resource_id else None
        self._body = body

    @property
    def digest(self) -> str:
        """The body's hash: what identifies a state that has no id and update time (read only then)."""
        body = self._body() if callable(self._body) else self._body
        return hashlib.sha256(body).hexdigest()

    async def claim(self, engine, session, now: datetime) -> str | None:
        """Record this state as applied. None: go on; "duplicate" or "stale": already had it, or newer."""
        if self.updated_at is None:
            first = await session.execute(insert_ignore(engine, WebhookEvent.__table__, [dict(
                source=self.source, event_id=self.digest, received_at=now)], ["source", "event_id"]))
            return None if first.rowcount else "duplicate"
        T = ShopResource.__table__
        insert = (sqlite if is_sqlite(engine) else postgresql).insert(T)
        stmt = insert.values(source=self.source, resource_id=self.resource_id, updated_at=self.updated_at,
                             received_at=now).on_conflict_do_update(
            index_elements=["source", "resource_id"],
            set_={"updated_at": insert.excluded.updated_at, "received_at": insert.excluded.received_at},
            where=T.c.updated_at < insert.excluded.updated_at)
        if (await session.execute(stmt)).rowcount:
            return None
        have = (await session.execute(select(T.c.updated_at).where(
            T.c.source == self.source, T.c.resource_id == self.resource_id))).scalar_one()
        return "duplicate" if have == self.updated_at else "stale"


async def claim_many(engine, session, versions: list[Version], now: datetime) -> dict[int, str]:
    """claim() of many versions (a backfill's page) in a few statements: {index: "duplicate" | "stale"} of
    those already applied. Resources never seen are inserted in one go (a webhook claiming one of them
    meanwhile makes the insert fail: the caller's transaction is tried again); one seen in an older state
    takes the one-by-one upsert."""
    from tracker.orders import insert_many  # the one executemany shortcut

    seen: dict[int, str] = {}
    keyed = [(i, v) for i, v in enumerate(versions) if v.updated_at is not None]
    for i, v in enumerate(versions):
        if v.updated_at is None and (outcome := await v.claim(engine, session, now)):
            seen[i] = outcome
    T = ShopResource.__table__
    have: dict[tuple[str, str], datetime] = {}
    for source in {v.source for _, v in keyed}:
        ids = sorted({v.resource_id for _, v in keyed if v.source == source})
        for lo in range(0, len(ids), 500):
            have.update({(source, rid): at for rid, at in await session.execute(
                select(T.c.resource_id, T.c.updated_at).where(T.c.source == source,
                                                              T.c.resource_id.in_(ids[lo:lo + 500])))})
    fresh: dict[tuple[str, str], Version] = {}
    for i, v in keyed:
        key = (v.source, v.resource_id)
        if key in fresh:  # the same resource twice in one page: the later state wins, once
            seen[i] = "duplicate"
            continue
        if key not in have:
            fresh[key] = v
        elif have[key] >= v.updated_at:
            seen[i] = "duplicate" if have[key] == v.updated_at else "stale"
        elif outcome := await v.claim(engine, session, now):
            seen[i] = outcome
    if fresh:
        await insert_many(session, T, [dict(source=v.source, resource_id=v.resource_id, updated_at=v.updated_at,
                                            received_at=now) for v in fresh.values()])
    return seen
