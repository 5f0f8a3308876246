"""What the HTTP API and the support console share: search, an order's full view, and the support
actions (recheck now, stop tracking, resend a notification)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy import or_, select, update

from tracker.conversations.support import Thread
from tracker.conversations.support import thread as conversation_thread
from tracker.db import sessionmaker
from tracker.dispatcher import RESEND_MARK
from tracker.models import (
    Alert,
    Notification,
    Order,
    PreferenceChange,
    Shipment,
    TrackingEventRow,
)
from tracker.search import search as find

if TYPE_CHECKING:
    from tracker.app import Daemon

log = logging.getLogger("tracker.web")

DAEMON = web.AppKey("daemon", object)  # the Daemon serving this application


class NotFound(LookupError):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field, self.problem = field, problem


class Conflict(ValueError):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field, self.problem = field, problem


@dataclass
class OrderView:
    order: Order
    shipments: list[Shipment]
    events: dict[int, list[TrackingEventRow]]
    notifications: dict[int, list[Notification]]
    alerts: dict[int, list[Alert]]
    # news about the order itself, before it has a parcel ("still preparing"), and its alerts
    order_notifications: list[Notification] = field(default_factory=list)
    order_alerts: list[Alert] = field(default_factory=list)
    preference_changes: list[PreferenceChange] = field(default_factory=list)  # the customer's own choices
    conversation: Thread = field(default_factory=Thread)  # what the customer wrote and was answered


async def load_order(daemon: "Daemon", number: str) -> OrderView | None:
    async with sessionmaker(daemon.engine)() as session:
        order = (await session.execute(select(Order).where(Order.number == number.strip()))).scalar_one_or_none()
        if order is None:
            return None
        ships = list((await session.execute(
            select(Shipment).where(Shipment.order_id == order.id).order_by(Shipment.id))).scalars())
        ids = [s.id for s in ships]
        events = (await session.execute(select(TrackingEventRow).where(TrackingEventRow.shipment_id.in_(ids))
                                        .order_by(TrackingEventRow.occurred_at, TrackingEventRow.id))).scalars()
        notes = (await session.execute(select(Notification).where(Notification.shipment_id.in_(ids))
                                       .order_by(Notification.created_at, Notification.id))).scalars()
        alerts = (await session.execute(select(Alert).where(Alert.shipment_id.in_(ids))
                                        .order_by(Alert.created_at))).scalars()
        view = OrderView(order, ships, {i: [] for i in ids}, {i: [] for i in ids}, {i: [] for i in ids})
        for e in events:
            view.events[e.shipment_id].append(e)
        for n in notes:
            view.notifications[n.shipment_id].append(n)
        for a in alerts:
            view.alerts[a.shipment_id].append(a)
        view.order_notifications = list((await session.execute(select(Notification).where(
            Notification.order_id == order.id, Notification.shipment_id.is_(None))
            .order_by(Notification.created_at, Notification.id))).scalars())
        view.order_alerts = list((await session.execute(select(Alert).where(
            Alert.key == f"order:{order.id}:preparing"))).scalars())
        view.preference_changes = list((await session.execute(
            select(PreferenceChange).where(PreferenceChange.order_id == order.id)
            .order_by(PreferenceChange.created_at, PreferenceChange.id))).scalars())
        view.conversation = await conversation_thread(session, order)
        return view


async def search(daemon: "Daemon", query: str, limit: int = 50) -> list[tuple[Order, Shipment | None]]:
    """Orders (with their parcels, or None before shipping) by number, email, phone or tracking number."""
    async with sessionmaker(daemon.engine)() as session:
        return await find(session, query, daemon.settings.shop.default_region, limit)


def wake_poller(daemon: "Daemon") -> None:
    scheduler = getattr(daemon, "scheduler", None)
    if scheduler and scheduler.running:
        job = scheduler.get_job("poll")
        if job:
            job.modify(next_run_time=datetime.now(timezone.utc))


async def recheck(daemon: "Daemon", shipment_id: int, who: str) -> Shipment:
    """Check the shipment with its carrier now (also resumes a stopped shipment)."""
    now = daemon.clock.now()
    async with sessionmaker(daemon.engine)() as session, session.begin():
        ship = await session.get(Shipment, shipment_id)
        if ship is None:
            raise NotFound("shipment_id", f"no shipment {shipment_id}")
        ship.next_check_at, ship.stopped_at, ship.stopped_by, ship.updated_at = now, None, None, now
    log.info("%s asked for a recheck of shipment %s", who, shipment_id)
    wake_poller(daemon)
    return ship


async def stop(daemon: "Daemon", shipment_id: int, who: str) -> Shipment:
    """Stop tracking: no more checks (so no more news) until someone asks for a recheck."""
    now = daemon.clock.now()
    async with sessionmaker(daemon.engine)() as session, session.begin():
        ship = await session.get(Shipment, shipment_id)
        if ship is None:
            raise NotFound("shipment_id", f"no shipment {shipment_id}")
        if ship.stopped_at is None:
            ship.stopped_at, ship.stopped_by = now, who[:64]
        ship.next_check_at, ship.updated_at = None, now
    log.info("%s stopped tracking shipment %s", who, shipment_id)
    return ship


async def resend(daemon: "Daemon", notification_id: int, who: str) -> Notification:
    """Queue the notification again: one more attempt of the same row, sent at once."""
    now = daemon.clock.now()
    async with sessionmaker(daemon.engine)() as session, session.begin():
        note = await session.get(Notification, notification_id)
        if note is None:
            raise NotFound("notification_id", f"no notification {notification_id}")
        if note.state == "sending" and note.leased_until and note.leased_until > now:
            raise Conflict("notification_id", f"notification {notification_id} is being sent right now")
        result = await session.execute(
            update(Notification).where(Notification.id == note.id)
            .values(state="queued", next_attempt_at=now, error=f"{RESEND_MARK} {who}"[:200], leased_until=None,
                    lease_owner=None, updated_at=now)
            .execution_options(synchronize_session=False))
        assert result.rowcount == 1
    async with sessionmaker(daemon.engine)() as session:
        note = await session.get(Notification, notification_id)
    log.info("%s asked to resend notification %s", who, notification_id)
    daemon.wake_dispatcher()
    return note


def status_line(ship: Shipment) -> str:
    """The status as support should read it: says so when tracking was stopped."""
    if ship.stopped_at is not None:
        return f"{ship.status} (tracking stopped by {ship.stopped_by or 'someone'})"
    return ship.status


ATTENTION_STATUSES = ("exception", "failed_attempt", "expired")


async def attention(daemon: "Daemon", limit: int = 200) -> list[tuple[Order, Shipment, str]]:
    """Shipments needing a person: problem statuses, and failed notifications."""
    async with sessionmaker(daemon.engine)() as session:
        failed = select(Notification.shipment_id).where(Notification.state == "failed")
        rows = await session.execute(
            select(Order, Shipment).join(Shipment, Shipment.order_id == Order.id)
            .where(or_(Shipment.status.in_(ATTENTION_STATUSES), Shipment.id.in_(failed)))
            .order_by(Shipment.updated_at.desc()).limit(limit))
        pairs = [(o, s) for o, s in rows]
        failed_ids = {i for (i,) in await session.execute(
            failed.where(Notification.shipment_id.in_([s.id for _, s in pairs])))}
    out = []
    for o, s in pairs:
        why = []
        if s.status in ATTENTION_STATUSES:
            why.append(s.status.replace("_", " "))
        if s.id in failed_ids:
            why.append("failed notification")
        out.append((o, s, ", ".join(why)))
    return out
