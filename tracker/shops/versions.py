"""Which state of a shop resource (a Shopify order or fulfillment, a WooCommerce order) was applied.

Deliveries are deduplicated on what is signed, never on a delivery-id header: the resource's id and its
update time in the body (ShopResource, written in the same transaction as the registrations) apply each
state once and never an older state over a newer one; a body without them is applied once per body (its
hash, WebhookEvent). The backfill of `connect` claims the same keys, so a webhook and the backfill never
apply one state twice.
"""

from __future__ import annotations

import hashlib
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

    def __init__(self, source: str, body: bytes, resource_id: str | None, updated: Any) -> None:
        self.source, self.resource_id = source, (resource_id or "")[:64]
        self.updated_at = when(updated) if resource_id else None
        self.digest = hashlib.sha256(body).hexdigest()

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
