"""Outbox -> render -> channel.send() -> record the outcome.

A notification is due when it is queued/deferred with `next_attempt_at <= now`, or stuck in `sending`
with an expired lease (its daemon died). Exactly once, step by step:

1. Just before a message is handed to its provider, `handed_at` and the digest of (address, text) are
   committed, by an UPDATE that matches only while this daemon owns the row (lease_owner, state): its
   row count is checked for every row, and a row lost meanwhile is not sent. A row reclaimed from `sending` with `handed_at` set, or answered ambiguously (timeout,
   5xx, connection lost after sending), is *in doubt* (`doubt = 'in_doubt'`), in the database, so any
   daemon that takes it next knows.
2. An in-doubt row on a channel that can look messages up (Twilio) is looked up first and only sent if
   the provider does not have it. One that cannot (SendGrid) waits `email_doubt_wait_seconds` for the
   provider's `processed` event to settle it, and is sent again only without one (`doubt = 'resent'`,
   counted in /metrics: the one place a duplicate remains possible).
3. Each send's outcome is committed on its own right after the provider answers. When that write fails
   (the database is gone, the disk is full, the file is locked) the outcome is kept in memory and
   written as soon as the database answers again; this daemon claims nothing new until it is, and the
   row is never handed back for sending.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, case, func, or_, select, update

from tracker import duplicates, fallback, logs, preferences, redact
from tracker.clock import Clock
from tracker.config import DispatcherSettings, Settings
from tracker.conversations import replies
from tracker.db import insert_ignore, sessionmaker, write_lock
from tracker.fastsqlite import BUSY, FastSqlite
from tracker.models import (
    Notification,
    Order,
    Shipment,
    Suppression,
    TrackingEventRow,
    WhatsAppSession,
)
from tracker.notify import quiet, segments, whatsapp
from tracker.notify.base import Channel, Message, Permanent, Temporary, body_digest
from tracker.notify.render import Renderer, localized_date
from tracker.orders import UNKNOWN_CARRIER, has_number
from tracker.parcels import Parcel, template_for, view_of
from tracker.retry import backoff
from tracker.shops.links import tracking_url
from tracker.wording import details

log = logging.getLogger("tracker.dispatcher")

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
                 rng: random.Random | None = None, link_secret: str = "") -> None:
        self.engine = engine
        self.maker = sessionmaker(engine)
        self.settings = settings
        self.cfg: DispatcherSettings = settings.dispatcher
        self.channels = channels  # "sms" / "email" / "whatsapp" -> the provider that sends it
        self.renderer = renderer
        self.carrier_names = carrier_names
        self.clock = clock
        self.owner = owner
        self.rng = rng or random.Random()
        self.link_secret = link_secret  # signs each email's one-click unsubscribe link (none when empty)
        self.stopping = False
        self._sem = asyncio.Semaphore(self.cfg.concurrency)
        qh = settings.quiet_hours
        self._quiet = (quiet.parse_hhmm(qh.start), quiet.parse_hhmm(qh.end)) if qh.enabled else None
        self._news_at: dict[tuple[int, str], datetime] = {}
        self._newest: dict[int, datetime] = {}
        self._parcels: dict[int, list[Parcel]] = {}  # order id -> its parcels, for "parcel 1 of 2"
        self._replies: dict[int, replies.Pending] = {}  # answers to customers' messages (conversations)
        self._sessions: dict[str, datetime] = {}  # phone -> the customer's last WhatsApp message to us
        self._unwritten: dict[int, dict] = {}  # sends the provider took whose outcome the database refused
        self._sent_stmts: dict[frozenset, object] = {}
        self._sent_sqls: dict[tuple, str] = {}
        self._in_flight: set[int] = set()  # handed to a provider, no answer yet
        self._handing: list[tuple[dict, asyncio.Future]] = []  # hand-overs waiting for their shared commit
        self._hand_task: asyncio.Task | None = None
        self._writing = write_lock(engine)  # shared with the poller: SQLite has one writer at a time
        self._fast = FastSqlite.open(engine)  # the two hot commits of every send, without async layers

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
                    lease_owner=self.owner, attempts=N.attempts + 1, updated_at=now,
                    # its daemon died with the message handed over: the provider may have it
                    doubt=case((and_(N.state == "sending", N.handed_at.is_not(None)), "in_doubt"), else_=N.doubt))
            .returning(N.id)
            .execution_options(synchronize_session=False)
        )
        async with self._writing, self.maker() as session, session.begin():
            return [r[0] for r in (await session.execute(stmt)).all()]

    async def release_all(self) -> None:
        """At shutdown: outcomes still unwritten are written; rows claimed by this process go back to the
        queue, those still in a provider's hands marked in doubt."""
        await self.flush_unwritten()
        N = Notification
        async with self._writing, self.maker() as session, session.begin():
            await session.execute(
                update(N).where(N.lease_owner == self.owner, N.state == "sending")
                .values(state="queued", leased_until=None, lease_owner=None, attempts=N.attempts - 1,
                        doubt=case((N.id.in_(sorted(self._in_flight) or [-1]), "in_doubt"), else_=N.doubt))
                .execution_options(synchronize_session=False))
        if self._fast is not None:
            self._fast.close()
            self._fast = None
        if self._unwritten:
            log.error("%d sent messages could not be recorded before shutdown (database unavailable); "
                      "they are in doubt and will be looked up before any resend", len(self._unwritten))

    async def tick(self) -> int:
        """Send what is due now. Returns how many notifications were handled."""
        if self.stopping:
            return 0
        if self._unwritten and not await self.flush_unwritten():
            return 0  # the database still refuses what was sent: claim nothing until it takes it
        now = self.clock.now()
        ids = await self.claim(now, self.cfg.claim_batch)
        if not ids:
            return 0
        jobs, latest, suppressed = await self._load(ids)
        await asyncio.gather(*(self._handle(job, latest.get(job.note.shipment_id), suppressed) for job in jobs))
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
            self._replies = await replies.load(session, [n for n, _, _ in rows])
            writers = [p.conversation.address for p in self._replies.values() if p.conversation.address]
            suppressed = set((await session.execute(
                select(Suppression.channel, Suppression.address).where(or_(
                    Suppression.address.in_([o.email for _, _, o in rows if o.email] + writers),
                    Suppression.address.in_([o.phone for _, _, o in rows if o.phone]))))).all())
            phones = [o.phone for n, _, o in rows if n.channel == "whatsapp" and o.phone] + writers
            self._sessions = dict((await session.execute(select(
                WhatsAppSession.phone, WhatsAppSession.last_inbound_at).where(
                WhatsAppSession.phone.in_(phones)))).all()) if phones else {}
        return [Job(n, s, o) for n, s, o in rows], latest, suppressed

    def address(self, order: Order, channel: str) -> str | None:
        return fallback.address(order, channel)

    def recipient(self, job: Job) -> str | None:
        to = self.address(job.order, job.note.channel)
        if replies.is_reply(job.note.milestone):  # the address the customer wrote from
            return replies.recipient(self._replies.get(replies.message_id(job.note.milestone)), job.order,
                                     job.note.channel, to)
        return to

    def template(self, job: Job) -> str | None:
        """The template this row is rendered with; None: it must not go out (tracker/parcels.py)."""
        if replies.is_reply(job.note.milestone):
            return "reply"
        # repeats ("silent#2") and dated news ("date_moved@2026-01-15") use the milestone's template
        milestone = job.note.milestone.split("#", 1)[0].split("@", 1)[0]
        if job.shipment is None:  # "still preparing": not once the order has a parcel
            return None if self._parcels.get(job.order.id) else milestone
        name = template_for(milestone, view_of(self._parcels.get(job.order.id, []), job.shipment.id))
        return "arriving_today" if name == "out_for_delivery" and job.shipment.delivery_window else name

    def render_message(self, job: Job, latest: TrackingEventRow | None) -> Message:
        note, ship, order = job.note, job.shipment, job.order
        if replies.is_reply(note.milestone):
            return self._reply_message(job)
        milestone = self.template(job) or note.milestone.split("#", 1)[0].split("@", 1)[0]
        if ship is None:
            contact = self.settings.shop.contact(order.locale)
            return self._render(note, order, milestone, dict(
                shop_name=self.settings.shop.name, support_email=contact.email, support_phone=contact.phone,
                support_hours=contact.hours, order_number=order.number,
                tracking_url=tracking_url(self.settings, order, None), locale_tag=order.locale))
        today = self.clock.now().astimezone(ZoneInfo(self.settings.shop.timezone)).date()
        parcel = view_of(self._parcels.get(order.id, []), ship.id)
        window = ship.delivery_window.split("-", 1) if ship.delivery_window else [None]
        contact = self.settings.shop.contact(order.locale)
        ctx = dict(
            shop_name=self.settings.shop.name,
            support_email=contact.email,
            support_phone=contact.phone,
            support_hours=contact.hours,
            order_number=order.number,
            # a parcel the shop named no carrier for, or sent without a number: the messages leave it out
            carrier_name=ship.carrier_name or ("" if ship.carrier == UNKNOWN_CARRIER
                                               else self.carrier_names.get(ship.carrier, ship.carrier)),
            tracking_number=ship.tracking_number if has_number(ship.tracking_number) else "",
            tracking_url=tracking_url(self.settings, order, ship),
            # a date already gone is no estimate: templates then say there is no new date yet
            expected_delivery=ship.expected_delivery if ship.expected_delivery and ship.expected_delivery >= today
            else None,
            pickup_until=ship.pickup_until,
            signed_by=ship.signed_by,
            pickup_location=ship.pickup_location,
            location=latest.location if latest else "",
            locale_tag=order.locale,
            parcel_index=parcel.index, parcel_count=parcel.count, parcels_delivered=parcel.delivered,
            parcels_remaining=parcel.remaining, window_from=window[0], window_to=window[-1],
        )
        kind = details.kind_of((ship.source or ship.carrier, ship.carrier), latest.raw_code, latest.raw_text,
                               latest.status) if latest else None
        ctx.update(details.template_context(kind, order.locale))  # the same words watch.py tells support
        if "@" in note.milestone:  # the date this news is about, even if the carrier moved it again since
            ctx["expected_delivery"] = date.fromisoformat(note.milestone.split("@", 1)[1])
            ctx["later_than_promised"] = bool(ship.first_expected_delivery and
                                              ctx["expected_delivery"] > ship.first_expected_delivery)
        if milestone == "follow_up":
            from tracker.follow_up import rating_links
            ctx["rating_links"] = rating_links(self.settings, ship)
        return self._render(note, order, milestone, ctx, ship.public_token)

    def _render(self, note: Notification, order: Order, milestone: str, ctx: dict,
                token: str | None = None) -> Message:
        unsubscribe = None
        if note.channel == "email" and self.link_secret and token:  # the footer's links, and List-Unsubscribe
            now, base = self.clock.now(), self.settings.server.public_url.rstrip("/")
            unsubscribe = preferences.unsubscribe_url(base, self.link_secret, token, "email", now,
                                                      self.settings.preferences.unsubscribe_days)
            ctx = dict(ctx, unsubscribe_url=unsubscribe, preferences_url=f"{base}/p/{token}?" + preferences.page_query(
                self.link_secret, token, now, self.settings.preferences.link_days))
        rendered = self.renderer.render(milestone, order.locale, ctx, html=note.channel == "email")
        to = self.address(order, note.channel) or ""
        if note.channel == "sms":
            text = segments.pick([rendered.sms, rendered.sms_short], self.settings.sms.budget(rendered.locale))
            return Message(note.id, "sms", to, text, locale=rendered.locale, milestone=milestone,
                           order_number=order.number)
        if note.channel == "whatsapp":
            return self._whatsapp_message(note, milestone, to, rendered, ctx, order)
        # news before shipping has no parcel page, so no preferences link of its own
        return Message(note.id, "email", to, rendered.text, subject=rendered.subject, html=rendered.html,
                       locale=rendered.locale, milestone=milestone, order_number=order.number,
                       unsubscribe_url=unsubscribe, reply_to=self.settings.conversations.reply_to or None)

    def _reply_message(self, job: Job) -> Message:
        from tracker.conversations.answers import language, subject_text
        from tracker.conversations.understand import for_settings

        pending = self._replies.get(replies.message_id(job.note.milestone))
        to = self.recipient(job) or ""
        lang = language(pending.conversation.locale if pending else job.order.locale,
                        for_settings(self.settings))
        wa = self.channels.get("whatsapp")
        return replies.build(pending, job.note.id, job.note.channel, job.order.number, to, locale=lang,
                             last_inbound_at=self._sessions.get(to),
                             now=self.clock.now(), templates=getattr(getattr(wa, "settings", None), "templates", None),
                             reply_to=self.settings.conversations.reply_to or None,
                             subject=subject_text(for_settings(self.settings)[lang].texts,
                                                  job.order.number, None))

    def _whatsapp_message(self, note: Notification, milestone: str, to: str, rendered, ctx: dict,
                          order: Order) -> Message:
        """Free text inside the customer's 24-hour session, else the approved template for this milestone
        and language; without one it cannot go out on WhatsApp (Permanent: the next channel takes it)."""
        common = dict(locale=rendered.locale, milestone=milestone, order_number=order.number)
        if whatsapp.in_session(self._sessions.get(to), self.clock.now()):
            return Message(note.id, "whatsapp", to, rendered.sms, **common)
        templates = getattr(self.channels["whatsapp"].settings, "templates", None)
        if templates is None:  # a provider without templates (console) shows the text
            return Message(note.id, "whatsapp", to, rendered.sms, **common)
        sid = whatsapp.template_sid(templates, milestone, rendered.locale)
        if sid is None:
            raise Permanent(f"no WhatsApp template for {milestone} in {rendered.locale}; "
                            f"add providers.{self.channels['whatsapp'].name}.templates.{milestone}.{rendered.locale}")
        variables = whatsapp.template_variables(
            order_number=order.number, carrier_name=ctx["carrier_name"],
            expected_date=localized_date(ctx["expected_delivery"], rendered.locale), tracking_url=ctx["tracking_url"],
            shop_name=ctx["shop_name"], pickup_location=ctx["pickup_location"],
            pickup_until_date=localized_date(ctx["pickup_until"], rendered.locale))
        return Message(note.id, "whatsapp", to, rendered.sms, content_sid=sid, content_variables=variables, **common)

    async def _handle(self, job: Job, latest: TrackingEventRow | None, suppressed: set[tuple[str, str]]) -> None:
        logs.about(order=job.order.number, notification=job.note.id, carrier=job.shipment and job.shipment.carrier)
        async with self._sem:
            if self.stopping:
                return  # release_all() puts it back in the queue
            try:
                await self._send_one(job, latest, suppressed)
            except Exception as exc:  # an outcome the database would not take: the lease brings the row back
                self._in_flight.discard(job.note.id)
                # the exception's text may quote SQL parameters (addresses): log its type only
                log.warning("could not record what happened to notification %s (%s); it comes back after its "
                            "lease, in doubt if it had been handed over", job.note.id, type(exc).__name__)

    async def _send_one(self, job: Job, latest: TrackingEventRow | None, suppressed: set[tuple[str, str]]) -> None:
        note = job.note
        to = self.recipient(job)
        if not to:
            await self._finish(note, state="failed", error=f"order has no {note.channel} address")
            return
        channel = self.channels.get(note.channel)
        if channel is None:
            await self._finish(note, state="failed", error=f"no provider sends {note.channel} "
                               f"(set channels.{note.channel}.provider)")
            await self._fallback(job, suppressed)
            return
        doubt = note.doubt
        if doubt == "in_doubt" and note.handed_at is not None and note.body_digest:
            doubt = await self._settle_doubt(job, channel, to, suppressed)
            if doubt is None:
                return  # settled (found at the provider) or waiting
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
        if note.channel in ("sms", "whatsapp") and self._quiet and not replies.is_reply(note.milestone):
            zones = quiet.recipient_zones(job.order.timezone, to, self.settings.shop.timezone)
            until = quiet.quiet_until(self.clock.now(), zones, *self._quiet)
            if until is not None:
                await self._defer(note, until, f"quiet hours in {', '.join(zones)}")
                return
        try:
            message = self.render_message(job, latest)
        except Permanent as exc:  # it cannot go on this channel (no WhatsApp template): the next one takes it
            log.warning("%s for order %s cannot go out: %s", note.channel, job.order.number, exc.reason)
            await self._finish(note, state="failed", error=exc.reason)
            await self._fallback(job, suppressed)
            return
        except Exception as exc:  # a template bug: retry later, never crash
            log.exception("rendering notification %s failed", note.id)
            await self._retry(job, f"{type(exc).__name__}: {exc}", None, suppressed)
            return
        try:
            listed = await channel.listed_text(message)  # WhatsApp templates: the template's own text
        except Temporary as exc:  # nothing was sent
            await self._retry(job, str(exc), exc.retry_after, suppressed)
            return
        except Permanent as exc:
            await self._finish(note, state="failed", error=exc.reason)
            await self._fallback(job, suppressed)
            return
        if not await self._hand_over(note, body_digest(to, listed), doubt):
            log.info("notification %s was taken over by another daemon; not sending it here", note.id)
            return
        self._in_flight.add(note.id)
        try:
            # Bounded below the lease, so no other daemon can take the row over while it is in flight.
            result = await asyncio.wait_for(channel.send(message), self.cfg.lease_seconds / 2)
        except asyncio.TimeoutError:
            self._in_flight.discard(note.id)
            await self._retry(job, "provider did not answer in time", None, suppressed, ambiguous=True)
        except Temporary as exc:
            self._in_flight.discard(note.id)
            await self._retry(job, str(exc), exc.retry_after, suppressed, ambiguous=exc.ambiguous)
        except Permanent as exc:
            self._in_flight.discard(note.id)
            log.warning("%s to %s for order %s failed permanently: %s", note.channel,
                        redact.address(note.channel, to), job.order.number, exc.reason)
            await self._finish(note, state="failed", error=exc.reason,
                               suppress=(note.channel, to) if exc.suppress else None)
            await self._fallback(job, suppressed)
        except Exception as exc:  # a bug or an unexpected provider reply: retry in doubt, never crash
            self._in_flight.discard(note.id)
            log.exception("sending notification %s failed unexpectedly", note.id)
            await self._retry(job, f"{type(exc).__name__}: {exc}", None, suppressed, ambiguous=True)
        else:
            log.info("sent %s %s to %s for order %s", note.milestone, note.channel,
                     redact.address(note.channel, to), job.order.number)
            await self._record_sent(note.id, channel.name, result.provider_id)
            self._in_flight.discard(note.id)

    async def _settle_doubt(self, job: Job, channel: Channel, to: str,
                            suppressed: set[tuple[str, str]]) -> str | None:
        """An earlier attempt may have reached the provider. Returns the doubt to send with ("absent" or
        "resent"), or None when the row is settled (found: recorded as sent) or must wait."""
        note = job.note
        if channel.can_look_up:
            try:
                found = await channel.find_sent(to, note.body_digest, note.handed_at)
            except Temporary as exc:
                await self._retry(job, str(exc), exc.retry_after, suppressed, ambiguous=True)
                return None
            if found is not None:
                log.info("notification %s had reached %s on an earlier attempt; recorded, not sent again",
                         note.id, channel.name)
                await self._record_sent(note.id, channel.name, found, doubt="found")
                return None
            return "absent"
        settle_by = note.handed_at + timedelta(seconds=self.cfg.email_doubt_wait_seconds)
        if getattr(channel, "settles_by_events", False) and self.clock.now() < settle_by:
            await self._wait_in_doubt(note, settle_by)
            return None
        log.warning("notification %s (%s) may have reached %s before its daemon lost track; sending it again "
                    "(counted as resent in doubt)", note.id, note.channel, channel.name)
        return "resent"

    async def _hand_over(self, note: Notification, digest: str, doubt: str | None) -> bool:
        """Commit, just before the provider call, that this message is being handed over (and renew the
        lease). False when another daemon owns the row now (or it was recorded meanwhile): then nothing
        may be sent from here.

        Hand-overs made at the same moment share one commit, but each row's UPDATE is checked on its own
        (it matches only while this daemon still owns the row): a lease cannot prove ownership, since a
        daemon that lost the database past its lease may write its outcome at any moment."""
        now = self.clock.now()
        values = dict(b_id=note.id, b_now=now, b_digest=digest, b_doubt=doubt,
                      b_resent=1 if doubt == "resent" else 0,
                      b_lease=now + timedelta(seconds=self.cfg.lease_seconds))
        future = asyncio.get_running_loop().create_future()
        self._handing.append((values, future))
        if self._hand_task is None or self._hand_task.done():
            self._hand_task = asyncio.ensure_future(self._flush_hand_overs())
        return await future

    def _hand_over_stmt(self):
        T = Notification.__table__
        return (update(T).where(T.c.id == bindparam("b_id"), T.c.lease_owner == self.owner, T.c.state == "sending")
                .values(handed_at=bindparam("b_now"), body_digest=bindparam("b_digest"), doubt=bindparam("b_doubt"),
                        resent_in_doubt=T.c.resent_in_doubt + bindparam("b_resent"),
                        leased_until=bindparam("b_lease")))

    HAND_OVER_SQL = ("UPDATE notifications SET handed_at = ?, body_digest = ?, doubt = ?, "
                     "resent_in_doubt = resent_in_doubt + ?, leased_until = ? "
                     "WHERE id = ? AND lease_owner = ? AND state = 'sending'")

    async def _flush_hand_overs(self) -> None:
        stmt = self._hand_over_stmt()
        while self._handing:
            batch, self._handing = self._handing, []
            try:
                async with self._writing:
                    counts = self._fast.rowcounts(self.HAND_OVER_SQL, [
                        (v["b_now"], v["b_digest"], v["b_doubt"], v["b_resent"], v["b_lease"], v["b_id"], self.owner)
                        for v, _ in batch]) if self._fast else BUSY
                    if counts is BUSY:
                        async with self.engine.begin() as conn:
                            counts = [(await conn.execute(stmt, values)).rowcount for values, _ in batch]
                owned = [n == 1 for n in counts]
            except Exception as exc:  # each waiting send sees the failure and does not start
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for (_, future), mine in zip(batch, owned):
                    if not future.done():
                        future.set_result(mine)

    async def _record_sent(self, note_id: int, provider: str, provider_id: str, doubt: str | None = None) -> None:
        """Commit one send's outcome, alone, right away. If the database refuses it, keep it and write it
        when it answers again: the row is never handed back for resending."""
        values = dict(state="sent", error=None, leased_until=None, lease_owner=None, provider=provider,
                      provider_id=provider_id, sent_at=self.clock.now())
        if doubt is not None:
            values["doubt"] = doubt
        try:
            await self._write_sent(note_id, values)
        except Exception as exc:
            if not self._unwritten:
                log.warning("the database refused the outcome of a send (%s); keeping it until the database "
                            "answers again, claiming nothing meanwhile", type(exc).__name__)
            self._unwritten[note_id] = values

    async def _write_sent(self, note_id: int, values: dict) -> None:
        values = {**values, "updated_at": self.clock.now()}
        stmt = self._sent_stmts.get(frozenset(values))
        if stmt is None:  # built once per shape: the hot path of every send
            T = Notification.__table__
            # whoever holds the row now: the provider has the message, that is the truth to record
            stmt = self._sent_stmts[frozenset(values)] = (
                update(T).where(T.c.id == bindparam("b_id"), T.c.state.in_(["queued", "deferred", "sending"]))
                .values({k: bindparam(f"b_{k}") for k in values}))
        async with self._writing:
            counts = self._fast.rowcounts(self._sent_sql(values), [(*values.values(), note_id)]) if self._fast \
                else BUSY
            if counts is not BUSY:
                if counts[0] == 0:
                    async with self.engine.begin() as conn:
                        await self._already_recorded(conn, note_id, values["provider_id"])
                return
            async with self.engine.begin() as conn:
                result = await conn.execute(stmt, {"b_id": note_id, **{f"b_{k}": v for k, v in values.items()}})
                if result.rowcount == 0:
                    await self._already_recorded(conn, note_id, values["provider_id"])

    def _sent_sql(self, values: dict) -> str:
        key = tuple(values)
        sql = self._sent_sqls.get(key)
        if sql is None:
            sql = self._sent_sqls[key] = (
                "UPDATE notifications SET " + ", ".join(f"{k} = ?" for k in key)
                + " WHERE id = ? AND state IN ('queued', 'deferred', 'sending')")
        return sql

    async def _already_recorded(self, conn, note_id: int, provider_id: str) -> None:
        """The row was recorded meanwhile (by another daemon, or a provider's report): if with another
        message, the customer got this one twice. Counted, never hidden."""
        T = Notification.__table__
        row = (await conn.execute(select(T.c.channel, T.c.provider_id).where(T.c.id == note_id))).first()
        if row is not None and row.provider_id and row.provider_id != provider_id:
            await duplicates.record(conn, self.engine, notification_id=note_id, channel=row.channel,
                                    provider_id=provider_id, seen_by="outcome", now=self.clock.now())

    async def flush_unwritten(self) -> bool:
        """Write the outcomes the database refused earlier. True when none is left."""
        if not self._unwritten:
            return True
        for note_id, values in list(self._unwritten.items()):
            try:
                await self._write_sent(note_id, values)
            except Exception:
                return False
            del self._unwritten[note_id]
        log.info("the database answers again; every kept send outcome is recorded")
        return True

    async def _finish(self, note: Notification, *, state: str, error: str | None = None, provider: str | None = None,
                      provider_id: str | None = None, suppress: tuple[str, str] | None = None) -> None:
        now = self.clock.now()
        values = dict(state=state, error=error, leased_until=None, lease_owner=None, updated_at=now)
        if provider:
            values.update(provider=provider, provider_id=provider_id, sent_at=now)
        async with self._writing, self.maker() as session, session.begin():
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
        await self._requeue(note, state="deferred", error=f"{reason}; waits until {until:%Y-%m-%d %H:%M} UTC",
                            at=until, attempts=Notification.attempts - 1, handed_at=None)

    async def _wait_in_doubt(self, note: Notification, until: datetime) -> None:
        """An email in doubt waits for the provider's own word (its `processed` event) before a resend."""
        await self._requeue(note, state="queued", error="in doubt: waiting for the provider's event",
                            at=until, attempts=Notification.attempts - 1)

    async def _retry(self, job: Job, error: str, retry_after: float | None,
                     suppressed: set[tuple[str, str]], *, ambiguous: bool = False) -> None:
        note = job.note
        if note.attempts >= self.cfg.max_attempts:
            await self._finish(note, state="failed", error=f"gave up after {note.attempts} attempts: {error}")
            await self._fallback(job, suppressed)
            return
        wait = retry_after if retry_after is not None else backoff(
            note.attempts, self.cfg.backoff_base_seconds, self.cfg.backoff_max_seconds, self.rng)
        at = self.clock.now() + timedelta(seconds=wait)
        if ambiguous:  # the provider may have it: whoever retries looks first
            await self._requeue(note, state="queued", error=error, at=at, doubt="in_doubt")
        else:  # the provider said it did not take it (429, refused before sending)
            await self._requeue(note, state="queued", error=error, at=at, handed_at=None)

    async def _requeue(self, note: Notification, *, state: str, error: str, at: datetime, **values) -> None:
        now = self.clock.now()
        N = Notification
        async with self._writing, self.maker() as session, session.begin():
            await session.execute(
                update(N).where(N.id == note.id, N.lease_owner == self.owner)
                .values(state=state, error=error, next_attempt_at=at, leased_until=None, lease_owner=None,
                        updated_at=now, **values)
                .execution_options(synchronize_session=False))

    async def _fallback(self, job: Job, suppressed: set[tuple[str, str]]) -> None:
        """A message that cannot go out on its channel takes the next one (tracker/fallback.py), if any."""
        other = next((c for c, to in fallback.fallbacks(job.order, job.note.channel)
                      if (c, to) not in suppressed and c in self.channels), None)
        if other is None:
            return
        now = self.clock.now()
        order_level = job.shipment is None
        async with self._writing, self.maker() as session, session.begin():
            result = await session.execute(insert_ignore(self.engine, Notification.__table__, [dict(
                shipment_id=job.note.shipment_id, order_id=job.order.id, milestone=job.note.milestone, channel=other,
                state="queued", attempts=0, next_attempt_at=now, created_at=now, updated_at=now,
                error=f"fallback: {job.note.channel} failed")],
                ["order_id" if order_level else "shipment_id", "milestone", "channel"],
                where=Notification.shipment_id.is_(None) if order_level else None))
        if result.rowcount:
            log.info("falling back to %s for %s of order %s", other, job.note.milestone, job.order.number)
