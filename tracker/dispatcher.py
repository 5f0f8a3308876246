"""Outbox -> render -> channel.send() -> record the outcome.

A notification is due when it is queued/deferred with `next_attempt_at <= now`, or stuck in `sending`
with an expired lease (its daemon died). Each outcome is committed right after its send, so a crash
can at worst resend the one message that was in flight; a clean shutdown waits for in-flight sends.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, func, or_, select, update

from tracker import redact
from tracker.clock import Clock
from tracker.config import DispatcherSettings, Settings
from tracker.db import insert_ignore, sessionmaker, write_lock
from tracker.models import Notification, Order, Shipment, Suppression, TrackingEventRow
from tracker.notify import quiet, segments
from tracker.notify.base import Channel, Message, Permanent, Temporary
from tracker.notify.render import Renderer
from tracker.parcels import Parcel, template_for, view_of
from tracker.retry import backoff

log = logging.getLogger("tracker.dispatcher")

OTHER_CHANNEL = {"sms": "email", "email": "sms"}
# A row re-queued by support on purpose (tracker.web.common.resend) carries this in `error`: it goes out
# even though newer news exists, because a person asked for it.
RESEND_MARK = "resend asked by"


@dataclass
class Job:
    note: Notification
    shipment: Shipment | None  # None: news about the order before it has a parcel ("still preparing")
    order: Order


class Dispatcher:
    def __init__(self, *, engine, settings: Settings, channels: dict[str, Channel], renderer: Renderer,
                 carrier_names: dict[str, str], clock: Clock, owner: str,
                 rng: random.Random | None = None) -> None:
        self.engine = engine
        self.maker = sessionmaker(engine)
        self.settings = settings
        self.cfg: DispatcherSettings = settings.dispatcher
        self.channels = channels  # "sms" / "email" -> the provider that sends it
        self.renderer = renderer
        self.carrier_names = carrier_names
        self.clock = clock
        self.owner = owner
        self.rng = rng or random.Random()
        self.stopping = False
        self._sem = asyncio.Semaphore(self.cfg.concurrency)
        qh = settings.quiet_hours
        self._quiet = (quiet.parse_hhmm(qh.start), quiet.parse_hhmm(qh.end)) if qh.enabled else None
        self._news_at: dict[tuple[int, str], datetime] = {}
        self._newest: dict[int, datetime] = {}
        self._parcels: dict[int, list[Parcel]] = {}  # order id -> its parcels, for "parcel 1 of 2"
        self._sent: list[tuple[dict, asyncio.Future]] = []  # "sent" outcomes waiting for the next commit
        self._flush_task: asyncio.Task | None = None
        self._writing = write_lock(engine)  # shared with the poller: SQLite has one writer at a time

    async def claim(self, now: datetime, limit: int) -> list[int]:
        N = Notification
        due = (
            select(N.id)
            .where(or_(and_(N.state.in_(["queued", "deferred"]), N.next_attempt_at <= now),
                       and_(N.state == "sending", N.leased_until < now)))
            .order_by(N.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        stmt = (
            update(N).where(N.id.in_(due.scalar_subquery()))
            .values(state="sending", leased_until=now + timedelta(seconds=self.cfg.lease_seconds),
                    lease_owner=self.owner, attempts=N.attempts + 1, updated_at=now)
            .returning(N.id)
            .execution_options(synchronize_session=False)
        )
        async with self._writing, self.maker() as session, session.begin():
            return [r[0] for r in (await session.execute(stmt)).all()]

    async def release_all(self) -> None:
        """Rows claimed by this process but never handed to a provider go back to the queue."""
        async with self.maker() as session, session.begin():
            await session.execute(
                update(Notification).where(Notification.lease_owner == self.owner, Notification.state == "sending")
                .values(state="queued", leased_until=None, lease_owner=None, attempts=Notification.attempts - 1)
                .execution_options(synchronize_session=False))

    async def tick(self) -> int:
        """Send what is due now. Returns how many notifications were handled."""
        if self.stopping:
            return 0
        now = self.clock.now()
        ids = await self.claim(now, self.cfg.claim_batch)
        if not ids:
            return 0
        jobs, latest, suppressed = await self._load(ids)
        # Until half the lease is gone a send (bounded by half the lease) cannot outlive it: no renewal needed.
        fresh_until = now + timedelta(seconds=self.cfg.lease_seconds / 2)
        await asyncio.gather(*(self._handle(job, latest.get(job.note.shipment_id), suppressed, fresh_until)
                               for job in jobs))
        return len(ids)

    async def _load(self, ids: Sequence[int]) -> tuple[list[Job], dict[int, TrackingEventRow], set[tuple[str, str]]]:
        async with self.maker() as session:
            rows = (await session.execute(
                select(Notification, Shipment, Order)
                .join(Shipment, Shipment.id == Notification.shipment_id, isouter=True)
                .join(Order, Order.id == Notification.order_id)
                .where(Notification.id.in_(list(ids))))).all()
            ship_ids = {s.id for _, s, _ in rows if s is not None}
            self._parcels = {}
            for sid, oid, status, delivered_at, stopped_at in await session.execute(
                    select(Shipment.id, Shipment.order_id, Shipment.status, Shipment.delivered_at, Shipment.stopped_at)
                    .where(Shipment.order_id.in_({o.id for _, _, o in rows}))):
                self._parcels.setdefault(oid, []).append(Parcel(sid, status, delivered_at, stopped_at is not None))
            latest: dict[int, TrackingEventRow] = {}
            for ev in (await session.execute(
                    select(TrackingEventRow).where(TrackingEventRow.shipment_id.in_(ship_ids))
                    .order_by(TrackingEventRow.occurred_at))).scalars():
                if ev.status != "unknown":
                    latest[ev.shipment_id] = ev
            # when each milestone's news arrived: older news is not sent once newer news exists
            self._news_at = {(sid, m): at for sid, m, at in (await session.execute(
                select(Notification.shipment_id, Notification.milestone, func.min(Notification.created_at))
                .where(Notification.shipment_id.in_(ship_ids))
                .group_by(Notification.shipment_id, Notification.milestone))).all()}
            self._newest = {}
            for (sid, _), at in self._news_at.items():
                if sid not in self._newest or at > self._newest[sid]:
                    self._newest[sid] = at
            suppressed = set((await session.execute(
                select(Suppression.channel, Suppression.address).where(or_(
                    Suppression.address.in_([o.email for _, _, o in rows if o.email]),
                    Suppression.address.in_([o.phone for _, _, o in rows if o.phone]))))).all())
        return [Job(n, s, o) for n, s, o in rows], latest, suppressed

    def address(self, order: Order, channel: str) -> str | None:
        return order.phone if channel == "sms" else order.email

    def template(self, job: Job) -> str | None:
        """The template this row is rendered with; None: it must not go out (tracker/parcels.py)."""
        # repeats ("silent#2") and dated news ("date_moved@2026-01-15") use the milestone's template
        milestone = job.note.milestone.split("#", 1)[0].split("@", 1)[0]
        if job.shipment is None:  # "still preparing": not once the order has a parcel
            return None if self._parcels.get(job.order.id) else milestone
        name = template_for(milestone, view_of(self._parcels.get(job.order.id, []), job.shipment.id))
        return "arriving_today" if name == "out_for_delivery" and job.shipment.delivery_window else name

    def render_message(self, job: Job, latest: TrackingEventRow | None) -> Message:
        note, ship, order = job.note, job.shipment, job.order
        milestone = self.template(job) or note.milestone.split("#", 1)[0].split("@", 1)[0]
        if ship is None:
            return self._render(note, order, milestone, dict(
                shop_name=self.settings.shop.name, support_email=self.settings.shop.support_email,
                support_phone=self.settings.shop.support_phone, order_number=order.number,
                tracking_url="", locale_tag=order.locale))
        today = self.clock.now().astimezone(ZoneInfo(self.settings.shop.timezone)).date()
        parcel = view_of(self._parcels.get(order.id, []), ship.id)
        window = ship.delivery_window.split("-", 1) if ship.delivery_window else [None]
        ctx = dict(
            shop_name=self.settings.shop.name,
            support_email=self.settings.shop.support_email,
            support_phone=self.settings.shop.support_phone,
            order_number=order.number,
            carrier_name=self.carrier_names.get(ship.carrier, ship.carrier),
            tracking_number=ship.tracking_number,
            tracking_url=f"{self.settings.server.public_url.rstrip('/')}/t/{ship.public_token}",
            # a date already gone is no estimate: templates then say there is no new date yet
            expected_delivery=ship.expected_delivery if ship.expected_delivery and ship.expected_delivery >= today
            else None,
            pickup_until=ship.pickup_until,
            signed_by=ship.signed_by,
            pickup_location=ship.pickup_location,
            event_text=latest.raw_text if latest else "",
            location=latest.location if latest else "",
            locale_tag=order.locale,
            parcel_index=parcel.index, parcel_count=parcel.count, parcels_delivered=parcel.delivered,
            parcels_remaining=parcel.remaining, window_from=window[0], window_to=window[-1],
        )
        if "@" in note.milestone:  # the date this news is about, even if the carrier moved it again since
            ctx["expected_delivery"] = date.fromisoformat(note.milestone.split("@", 1)[1])
            ctx["later_than_promised"] = bool(ship.first_expected_delivery and
                                              ctx["expected_delivery"] > ship.first_expected_delivery)
        if milestone == "follow_up":
            from tracker.follow_up import rating_links
            ctx["rating_links"] = rating_links(self.settings, ship)
        return self._render(note, order, milestone, ctx)

    def _render(self, note: Notification, order: Order, milestone: str, ctx: dict) -> Message:
        rendered = self.renderer.render(milestone, order.locale, ctx)
        to = self.address(order, note.channel) or ""
        if note.channel == "sms":
            text = segments.fit(rendered.sms, self.settings.sms.max_segments, keep=ctx["tracking_url"] or None)
            return Message(note.id, "sms", to, text, locale=rendered.locale, milestone=milestone,
                           order_number=order.number)
        return Message(note.id, "email", to, rendered.text, subject=rendered.subject, html=rendered.html,
                       locale=rendered.locale, milestone=milestone, order_number=order.number)

    async def _handle(self, job: Job, latest: TrackingEventRow | None, suppressed: set[tuple[str, str]],
                      fresh_until: datetime) -> None:
        note = job.note
        async with self._sem:
            if self.stopping:
                return  # release_all() puts it back in the queue
            to = self.address(job.order, note.channel)
            if not to:
                await self._finish(note, state="failed", error=f"order has no {note.channel} address")
                return
            if (note.channel, to) in suppressed:
                await self._finish(note, state="suppressed", error="recipient opted out of this channel")
                return
            if self._stale(note):
                await self._finish(note, state="suppressed", error="superseded by newer news")
                return
            if self.template(job) is None:
                await self._finish(note, state="suppressed", error="superseded: " + (
                    "the order has shipped" if job.shipment is None else "the order's delivered message covers it"))
                return
            if note.channel == "sms" and self._quiet:
                zones = quiet.recipient_zones(job.order.timezone, to, self.settings.shop.timezone)
                until = quiet.quiet_until(self.clock.now(), zones, *self._quiet)
                if until is not None:
                    await self._defer(note, until, f"quiet hours in {', '.join(zones)}")
                    return
            channel = self.channels[note.channel]
            try:
                message = self.render_message(job, latest)
                if self.clock.now() >= fresh_until and not await self._renew(note.id):
                    log.info("notification %s was taken over by another daemon; not sending it here", note.id)
                    return
                # Bounded below the lease, so no other daemon can take the row over while it is in flight.
                result = await asyncio.wait_for(channel.send(message), self.cfg.lease_seconds / 2)
            except asyncio.TimeoutError:
                await self._retry(job, "provider did not answer in time", None, suppressed)
            except Temporary as exc:
                await self._retry(job, str(exc), exc.retry_after, suppressed)
            except Permanent as exc:
                log.warning("%s to %s for order %s failed permanently: %s", note.channel,
                            redact.address(note.channel, to), job.order.number, exc.reason)
                await self._finish(note, state="failed", error=exc.reason,
                                   suppress=(note.channel, to) if exc.suppress else None)
                await self._fallback(job, suppressed)
            except Exception as exc:  # a bug or an unexpected provider reply: retry, never crash
                log.exception("sending notification %s failed unexpectedly", note.id)
                await self._retry(job, f"{type(exc).__name__}: {exc}", None, suppressed)
            else:
                log.info("sent %s %s to %s for order %s", note.milestone, note.channel,
                         redact.address(note.channel, to), job.order.number)
                await self._record_sent(note, channel.name, result.provider_id)

    async def _record_sent(self, note: Notification, provider: str, provider_id: str) -> None:
        """Record a send; returns once it is committed. Sends finishing together share one commit (group
        commit), so a busy outbox is not bound by one database transaction per message."""
        now = self.clock.now()
        future = asyncio.get_running_loop().create_future()
        self._sent.append((dict(b_id=note.id, b_provider=provider, b_provider_id=provider_id, b_now=now), future))
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.ensure_future(self._flush_sent())
        await future

    async def _flush_sent(self) -> None:
        T = Notification.__table__
        stmt = (update(T).where(T.c.id == bindparam("b_id"), T.c.lease_owner == self.owner)
                .values(state="sent", error=None, leased_until=None, lease_owner=None, provider=bindparam("b_provider"),
                        provider_id=bindparam("b_provider_id"), sent_at=bindparam("b_now"),
                        updated_at=bindparam("b_now")))
        while self._sent:
            batch, self._sent = self._sent, []
            try:
                async with self._writing, self.engine.begin() as conn:
                    await conn.execute(stmt, [params for params, _ in batch])
            except Exception as exc:  # each waiting send sees the failure, as it would have alone
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def _renew(self, note_id: int) -> bool:
        """Confirm this process still owns the row and extend its lease, just before handing it over."""
        now = self.clock.now()
        async with self.maker() as session, session.begin():
            row = (await session.execute(
                update(Notification)
                .where(Notification.id == note_id, Notification.lease_owner == self.owner,
                       Notification.state == "sending")
                .values(leased_until=now + timedelta(seconds=self.cfg.lease_seconds))
                .returning(Notification.id).execution_options(synchronize_session=False))).first()
        return row is not None

    async def _finish(self, note: Notification, *, state: str, error: str | None = None, provider: str | None = None,
                      provider_id: str | None = None, suppress: tuple[str, str] | None = None) -> None:
        now = self.clock.now()
        values = dict(state=state, error=error, leased_until=None, lease_owner=None, updated_at=now)
        if provider:
            values.update(provider=provider, provider_id=provider_id, sent_at=now)
        async with self.maker() as session, session.begin():
            await session.execute(
                update(Notification).where(Notification.id == note.id, Notification.lease_owner == self.owner)
                .values(**values).execution_options(synchronize_session=False))
            if suppress:
                await session.execute(insert_ignore(self.engine, Suppression.__table__, [dict(
                    channel=suppress[0], address=suppress[1], reason=error or "permanent failure",
                    created_at=now)], ["channel", "address"]))

    def _stale(self, note: Notification) -> bool:
        """Newer news exists for this shipment (e.g. it arrived while this one waited out the night)."""
        if (note.error or "").startswith(RESEND_MARK):
            return False
        mine = self._news_at.get((note.shipment_id, note.milestone))
        newest = self._newest.get(note.shipment_id)
        return mine is not None and newest is not None and newest > mine

    async def _defer(self, note: Notification, until: datetime, reason: str) -> None:
        """Not now, not lost: the row waits (state deferred) and goes out at `until` unless superseded."""
        now = self.clock.now()
        async with self.maker() as session, session.begin():
            await session.execute(
                update(Notification).where(Notification.id == note.id, Notification.lease_owner == self.owner)
                .values(state="deferred", error=f"{reason}; waits until {until:%Y-%m-%d %H:%M} UTC",
                        next_attempt_at=until, attempts=Notification.attempts - 1,
                        leased_until=None, lease_owner=None, updated_at=now)
                .execution_options(synchronize_session=False))

    async def _retry(self, job: Job, error: str, retry_after: float | None,
                     suppressed: set[tuple[str, str]]) -> None:
        note = job.note
        if note.attempts >= self.cfg.max_attempts:
            await self._finish(note, state="failed", error=f"gave up after {note.attempts} attempts: {error}")
            await self._fallback(job, suppressed)
            return
        wait = retry_after if retry_after is not None else backoff(
            note.attempts, self.cfg.backoff_base_seconds, self.cfg.backoff_max_seconds, self.rng)
        now = self.clock.now()
        async with self.maker() as session, session.begin():
            await session.execute(
                update(Notification).where(Notification.id == note.id, Notification.lease_owner == self.owner)
                .values(state="queued", error=error, next_attempt_at=now + timedelta(seconds=wait),
                        leased_until=None, lease_owner=None, updated_at=now)
                .execution_options(synchronize_session=False))

    async def _fallback(self, job: Job, suppressed: set[tuple[str, str]]) -> None:
        """A message that cannot go out on one channel goes out on the order's other one, if it has one."""
        other = OTHER_CHANNEL[job.note.channel]
        to = self.address(job.order, other)
        if not to or (other, to) in suppressed:
            return
        now = self.clock.now()
        order_level = job.shipment is None
        async with self.maker() as session, session.begin():
            result = await session.execute(insert_ignore(self.engine, Notification.__table__, [dict(
                shipment_id=job.note.shipment_id, order_id=job.order.id, milestone=job.note.milestone, channel=other,
                state="queued", attempts=0, next_attempt_at=now, created_at=now, updated_at=now,
                error=f"fallback: {job.note.channel} failed")],
                ["order_id" if order_level else "shipment_id", "milestone", "channel"],
                where=Notification.shipment_id.is_(None) if order_level else None))
        if result.rowcount:
            log.info("falling back to %s for %s of order %s", other, job.note.milestone, job.order.number)
