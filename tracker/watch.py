"""Watchers: the periodic sweeps that keep the promise "nobody waits without news".

    silence   in flight, no carrier event for `watch.silence_hours[status]` (counted from registration
              while there is none): "still on its way, we are watching it" to the customer, at most once
              per `watch.silent_repeat_hours`, and a support alert (once per shipment).
    late      the first expected delivery date has passed without delivery: an apology with the carrier's
              new estimate when it gives one (milestone `delayed`, once per shipment) and a support alert.
    problems  exception and failed attempt: a support alert (the customer message comes from the milestone).
    expired   no carrier event for `watch.expire_after_days`: status `expired`, polling stops, support alerted.
    preparing an order registered before shipping with no parcel after `watch.handling_hours`: "we are still
              preparing your order" (milestone `preparing`, order-level, at most once per
              `watch.preparing_repeat_hours`, until `watch.expire_after_days`) and a support alert (once per
              order). Its first parcel ends it.
    date moved the carrier moved the expected date by a day or more: the new date (milestone
              `date_moved@<date>`, once per date), at most once per `watch.date_moved_repeat_hours`.
    follow-up (follow_up.enabled) N days after delivery: the rating email (milestone `follow_up`, email only).

The decisions are pure functions over a `View` of a shipment; `Watcher.tick()` is the thin database
layer. Everything it writes is insert-once (UNIQUE outbox key, unique alert key), so any number of
daemons may sweep at the same time.

The silent message repeats, but the outbox allows each (shipment, milestone, channel) once. Each repeat
therefore gets its own milestone key: `silent` for the first, then `silent#2`, `silent#3`... The number
is derived from the rows already there, so two daemons sweeping together compute the same key and the
UNIQUE constraint keeps exactly one. The template is the one of the base milestone (`silent`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, delete, func, or_, select, text, union_all, update

from tracker import alerts
from tracker.clock import Clock
from tracker.config import Settings, WatchSettings
from tracker.conversations.support import erase_unmatched_conversations
from tracker.db import insert_ignore, rare, sessionmaker
from tracker.carrier_health import as_time
from tracker.models import (
    MOVED,
    Alert,
    Notification,
    Order,
    Shipment,
    TrackingEventRow,
    WhatsAppSession,
)
from tracker.parcels import Parcel, view_of
from tracker.privacy import parts as privacy
from tracker.status import Milestone, Status
from tracker.wording import details

log = logging.getLogger("tracker.watch")

IN_FLIGHT = tuple(s.value for s in Status if s not in (Status.DELIVERED, Status.EXPIRED, Status.UNKNOWN))
PROBLEMS = (Status.EXCEPTION.value, Status.FAILED_ATTEMPT.value)
# An exception already told the customer what went wrong and what we do about it, and a parcel waiting at
# a pickup point is there: no "late" on top of either.
LATE_CANDIDATES = tuple(s for s in IN_FLIGHT if s not in (Status.EXCEPTION.value, Status.AVAILABLE_FOR_PICKUP.value))
FOLLOW_UP = "follow_up"
PREPARING = "preparing"
DATE_MOVED = "date_moved"
NEVER = datetime(9999, 12, 31, tzinfo=timezone.utc)  # a next look that only news (which clears it) brings forward
# A new date is news while the parcel travels; a failed attempt, a pickup point or an exception say their own.
MOVED_CANDIDATES = (Status.INFO_RECEIVED.value, Status.IN_TRANSIT.value)
# How far back the follow-up looks: turning it on does not email every customer of the past.
FOLLOW_UP_WINDOW = timedelta(days=14)


def repeat_key(milestone: str, n: int) -> str:
    """The outbox key of the n-th (1-based) message of a repeating milestone: silent, silent#2, ..."""
    return milestone if n <= 1 else f"{milestone}#{n}"


def base_milestone(key: str) -> str:
    return key.split("#", 1)[0]


@dataclass(frozen=True, slots=True)
class View:
    """What the watchers need to know about one shipment."""

    id: int
    status: str
    created_at: datetime
    last_event_at: datetime | None = None
    expected_delivery: date | None = None
    first_expected_delivery: date | None = None
    delivered_at: datetime | None = None
    announced_delivery: date | None = None

    @property
    def quiet_since(self) -> datetime:
        return self.last_event_at or self.created_at


# --- pure decisions ---------------------------------------------------------------------------------

def silence_threshold(status: str, cfg: WatchSettings) -> timedelta | None:
    hours = getattr(cfg.silence_hours, status, None)
    return timedelta(hours=hours) if hours else None


def is_silent(view: View, now: datetime, cfg: WatchSettings) -> bool:
    threshold = silence_threshold(view.status, cfg)
    return threshold is not None and view.status in IN_FLIGHT and now - view.quiet_since >= threshold


def silent_message_due(view: View, now: datetime, cfg: WatchSettings, last_sent: datetime | None) -> bool:
    """Silent now, and no "still on its way" in the last `silent_repeat_hours`."""
    if not is_silent(view, now, cfg):
        return False
    return last_sent is None or now - last_sent >= timedelta(hours=cfg.silent_repeat_hours)


def next_silence_look(view: View, now: datetime, cfg: WatchSettings, last_sent: datetime | None) -> datetime | None:
    """When the silence sweep looks at a shipment again, once it has looked now: when a "still on its way" is
    due again; None when it is not silent (it is found again by its quiet time, if it stays quiet)."""
    if not is_silent(view, now, cfg):
        return None
    return (last_sent or now) + timedelta(hours=cfg.silent_repeat_hours)


def next_late_look(view: View, today: date, cfg: WatchSettings, tz: ZoneInfo) -> datetime | None:
    """When the late sweep looks at a shipment again, once it has looked now: the day after the new date the
    customer was told, if the apology waits for it; NEVER once alerted and apologised (news clears it);
    None when it is not late."""
    if not is_late(view, today, cfg):
        return None
    if apology_due(view, today):
        return NEVER
    return datetime.combine(view.announced_delivery + timedelta(days=1), time(0), tzinfo=tz)


def is_late(view: View, today: date, cfg: WatchSettings) -> bool:
    """The first date the carrier gave has passed and the parcel is still not there."""
    return (cfg.late and view.status in LATE_CANDIDATES and view.first_expected_delivery is not None
            and today > view.first_expected_delivery)


def apology_due(view: View, today: date) -> bool:
    """Late, and the customer was not already told a new date still to come (date moved): the apology
    waits until that one has passed too."""
    return view.announced_delivery is None or today > view.announced_delivery


def new_estimate(view: View, today: date) -> date | None:
    """The carrier's current estimate, when it is one (not a date already gone)."""
    if view.expected_delivery is not None and view.expected_delivery >= today:
        return view.expected_delivery
    return None


def is_expired(view: View, now: datetime, cfg: WatchSettings) -> bool:
    return view.status in IN_FLIGHT and now - view.quiet_since >= timedelta(days=cfg.expire_after_days)


def follow_up_due(view: View, now: datetime, days: float) -> bool:
    return (view.status == Status.DELIVERED.value and view.delivered_at is not None
            and now - FOLLOW_UP_WINDOW - timedelta(days=days) <= view.delivered_at <= now - timedelta(days=days))


def preparing_due(created_at: datetime, now: datetime, cfg: WatchSettings, last_sent: datetime | None) -> bool:
    """An order still without a parcel past the promised handling time, not told so in the last period."""
    if not cfg.handling_hours or now - created_at < timedelta(hours=cfg.handling_hours):
        return False
    if now - created_at >= timedelta(days=cfg.expire_after_days):
        return False  # an order that never ships is support's to settle (the alert); the customer is not nagged
    return last_sent is None or now - last_sent >= timedelta(hours=cfg.preparing_repeat_hours)


def moved_date(view: View, today: date) -> date | None:
    """The new expected date to tell the customer, if the carrier moved it from the one they know."""
    told = view.announced_delivery or view.first_expected_delivery
    new = view.expected_delivery
    if view.status not in MOVED_CANDIDATES or told is None or new is None or new < today:
        return None
    return new if abs((new - told).days) >= 1 else None


def date_moved_due(view: View, today: date, now: datetime, cfg: WatchSettings, last_sent: datetime | None) -> bool:
    if not cfg.date_moved or moved_date(view, today) is None:
        return False
    return last_sent is None or now - last_sent >= timedelta(hours=cfg.date_moved_repeat_hours)


def date_moved_key(new: date) -> str:
    return f"{DATE_MOVED}@{new.isoformat()}"


# Ids a secondary query takes at once: PostgreSQL's driver takes at most 32,767 parameters a statement.
CHUNK = 5000


async def _in_chunks(session, ids: list, build) -> list:
    """The rows of `build(chunk)` for every CHUNK of `ids`, as one list."""
    rows = []
    for i in range(0, len(ids), CHUNK):
        rows.extend((await session.execute(build(ids[i:i + CHUNK]))).all())
    return rows


def quiet_before(engine, statuses, cutoff: datetime, *, unwatched: bool = False):
    """Shipments of these statuses with no carrier event since `cutoff` (counted from registration while there
    is none): two ranges of ix_shipments_quiet (status, last_event_at, created_at); `unwatched`: only those
    the silence sweep has not looked at since their last news, ranges of ix_shipments_quiet_unwatched."""
    S = Shipment
    extra = (S.silence_due_at.is_(None),) if unwatched else ()
    return or_(and_(S.status.in_(statuses), rare(engine, S.last_event_at <= cutoff), *extra),
               and_(S.status.in_(statuses), S.last_event_at.is_(None), rare(engine, S.created_at <= cutoff), *extra))


def _view(s: Shipment) -> View:
    return View(id=s.id, status=s.status, created_at=s.created_at, last_event_at=s.last_event_at,
                expected_delivery=s.expected_delivery, first_expected_delivery=s.first_expected_delivery,
                delivered_at=s.delivered_at, announced_delivery=s.announced_delivery)


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:.0f} days" if hours >= 48 else f"{hours:.0f} hours"


# --- the sweep --------------------------------------------------------------------------------------

@dataclass
class WatchStats:
    expired: int = 0
    silent: int = 0
    late: int = 0
    follow_up: int = 0
    preparing: int = 0
    date_moved: int = 0
    alerts: int = 0
    superseded: int = 0
    erased: int = 0

    @property
    def queued(self) -> int:
        return self.silent + self.late + self.follow_up + self.preparing + self.date_moved

    @property
    def total(self) -> int:
        return self.expired + self.queued + self.alerts + self.superseded + self.erased


class Watcher:
    def __init__(self, *, engine, settings: Settings, clock: Clock) -> None:
        self.engine = engine
        self.maker = sessionmaker(engine)
        self.settings = settings
        self.cfg = settings.watch
        self.clock = clock
        self.tz = ZoneInfo(settings.shop.timezone)
        self.stopping = False
        self._lock = asyncio.Lock()

    async def tick(self) -> WatchStats:
        stats = WatchStats()
        if self.stopping:
            return stats
        async with self._lock:
            now = self.clock.now()
            await self._supersede_silent(now, stats)
            await self._expired(now, stats)
            await self._silence(now, stats)
            await self._late(now, stats)
            await self._problems(now, stats)
            if self.cfg.handling_hours:
                await self._preparing(now, stats)
            if self.cfg.date_moved:
                await self._date_moved(now, stats)
            if self.settings.follow_up.enabled:
                await self._follow_up(now, stats)
            if self.settings.privacy.erase_contact_after_days:
                await self._erase_contacts(now, stats)
                await erase_unmatched_conversations(self.engine, now, self.settings.privacy.erase_contact_after_days)
            await self._forget_whatsapp_sessions(now)
        if stats.total:
            log.info("watchers: %d expired, %d silent, %d late, %d follow-ups, %d still-preparing, %d new-date "
                     "messages queued, %d alerts raised, %d orders' contact details erased", stats.expired,
                     stats.silent, stats.late, stats.follow_up, stats.preparing, stats.date_moved, stats.alerts,
                     stats.erased)
        return stats

    # --- helpers ---
    async def _queue(self, session, ship: Shipment, order: Order, milestone: str, now: datetime,
                     channels: list[str] | None = None) -> int:
        from tracker.poller import channels_for

        wanted = [c for c in channels_for(order) if channels is None or c in channels]
        if not wanted or order.erased_at is not None:
            return 0
        result = await session.execute(insert_ignore(self.engine, Notification.__table__, [dict(
            shipment_id=ship.id, order_id=order.id, milestone=milestone, channel=c, state="queued", attempts=0,
            next_attempt_at=now, created_at=now, updated_at=now) for c in wanted],
            ["shipment_id", "milestone", "channel"]))
        return max(result.rowcount or 0, 0)

    async def _alert(self, session, ship: Shipment, order: Order, cause: str, text: str, now: datetime) -> int:
        new = await alerts.raise_alert(
            session, key=f"shipment:{ship.id}:{cause}", cause=cause, shipment_id=ship.id, now=now,
            message=f"order {order.number}, {ship.carrier} {ship.tracking_number}: {text}")
        return int(new)

    async def _load(self, session, query) -> list[tuple[Shipment, Order]]:
        return sorted(((s, o) for s, o in (await session.execute(query)).all()), key=lambda row: row[0].id)

    def candidates(self, sweep: str, now: datetime):
        """The query of a sweep's candidates: each is one or a few ranges of an index on its due time, so a
        pass reads what is due, not every shipment there is (tests/test_scale_plans.py checks the plans)."""
        S, N = Shipment, Notification
        today = now.astimezone(self.tz).date()
        if sweep == "preparing":
            # orders without a parcel as last seen (ix_orders_unshipped), past the handling time and still
            # watched (younger than expire_after_days); those found with one are marked and never read again
            return select(Order).where(
                Order.first_parcel_at.is_(None), Order.created_at <= now - timedelta(hours=self.cfg.handling_hours),
                Order.created_at > now - timedelta(days=self.cfg.expire_after_days),
                Order.erased_at.is_(None), Order.cancelled_at.is_(None))
        if sweep == "expired":
            where = quiet_before(self.engine, IN_FLIGHT, now - timedelta(days=self.cfg.expire_after_days))
        elif sweep == "silence":
            # quiet past its threshold and not looked at since its last news, or looked at and due again
            # (a repeat "still on its way"): what was told and alerted already stays in the database
            ranges = []
            for status in IN_FLIGHT:
                threshold = silence_threshold(status, self.cfg)
                if threshold is not None:
                    ranges.append(quiet_before(self.engine, [status], now - threshold, unwatched=True))
            if not ranges:
                return None
            where = S.id.in_(union_all(select(S.id).where(or_(*ranges)),
                                       select(S.id).where(rare(self.engine, S.silence_due_at <= now))))
        elif sweep == "late":
            # past the first date and not looked at since the last news, or due again (the day after a new
            # date the customer was told passed): alerted and apologised for already stays in the database
            where = S.id.in_(union_all(
                select(S.id).where(S.late_due_at.is_(None), S.status.in_(LATE_CANDIDATES),
                                   rare(self.engine, S.first_expected_delivery < today)),
                select(S.id).where(rare(self.engine, S.late_due_at <= now))))
        elif sweep == "problems":
            where = and_(rare(self.engine, S.status.in_(PROBLEMS)), ~select(Alert.id).where(
                Alert.shipment_id == S.id, Alert.cause == S.status).exists())
        elif sweep == "date_moved":
            # a date moved and not told yet: the rows of the partial index ix_shipments_date_moved
            where = and_(rare(self.engine, S.status.in_(MOVED_CANDIDATES)), text(MOVED), S.expected_delivery >= today)
        elif sweep == "follow_up":
            # delivered within the window (ix_shipments_delivered): never every delivered shipment there is
            latest = now - timedelta(days=self.settings.follow_up.days_after_delivery)
            where = and_(S.status == Status.DELIVERED.value, S.delivered_at <= latest,
                         S.delivered_at >= latest - FOLLOW_UP_WINDOW,
                         ~select(N.id).where(N.shipment_id == S.id, N.milestone == FOLLOW_UP).exists())
        else:
            raise ValueError(f"no sweep {sweep!r}")
        # no ORDER BY: sorting by id would make PostgreSQL walk the primary key (_load sorts what it got)
        return select(S, Order).join(Order, Order.id == S.order_id).where(where)

    # --- sweeps ---
    async def _supersede_silent(self, now: datetime, stats: WatchStats) -> None:
        """A "still on its way" still waiting in the outbox is dropped once the carrier speaks again."""
        N, S = Notification, Shipment
        async with self.maker() as session, session.begin():
            ids = [i for (i,) in await session.execute(
                select(N.id).join(S, S.id == N.shipment_id).where(
                    or_(N.milestone == Milestone.SILENT.value, N.milestone.like(f"{Milestone.SILENT.value}#%")),
                    N.state.in_(["queued", "deferred"]), S.last_event_at > N.created_at))]
            if ids:
                for i in range(0, len(ids), CHUNK):
                    await session.execute(update(N).where(N.id.in_(ids[i:i + CHUNK]), N.state.in_(
                        ["queued", "deferred"])).values(state="suppressed", error="superseded by newer news",
                                                        updated_at=now).execution_options(synchronize_session=False))
                stats.superseded += len(ids)

    async def _expired(self, now: datetime, stats: WatchStats) -> None:
        async with self.maker() as session, session.begin():
            for ship, order in await self._load(session, self.candidates("expired", now)):
                if not is_expired(_view(ship), now, self.cfg):
                    continue
                was = ship.status
                ship.status, ship.status_at, ship.next_check_at, ship.updated_at = "expired", now, None, now
                stats.expired += 1
                log.warning("order %s: %s %s expired: no carrier news for %s", order.number, ship.carrier,
                            ship.tracking_number, _hours(now - _view(ship).quiet_since))
                stats.alerts += await self._alert(
                    session, ship, order, "expired",
                    f"no news from the carrier for {self.cfg.expire_after_days:g} days (last status {was}); "
                    f"polling stopped. Ask the carrier, then tell the customer.", now)

    async def _silence(self, now: datetime, stats: WatchStats) -> None:
        query = self.candidates("silence", now)
        if query is None:
            return
        async with self.maker() as session, session.begin():
            candidates = await self._load(session, query)
            if not candidates:
                return
            ids = [s.id for s, _ in candidates]
            keys: dict[int, set[str]] = defaultdict(set)
            last: dict[int, datetime] = {}
            for sid, milestone, created in await _in_chunks(session, ids, lambda chunk: select(
                    Notification.shipment_id, Notification.milestone, Notification.created_at).where(
                        Notification.shipment_id.in_(chunk),
                        or_(Notification.milestone == Milestone.SILENT.value,
                            Notification.milestone.like(f"{Milestone.SILENT.value}#%")))):
                keys[sid].add(milestone)
                last[sid] = max(last.get(sid, created), created)
            for ship, order in candidates:
                view = _view(ship)
                due = silent_message_due(view, now, self.cfg, last.get(ship.id))
                ship.silence_due_at = next_silence_look(view, now, self.cfg, now if due else last.get(ship.id))
                if not due:
                    continue
                key = repeat_key(Milestone.SILENT.value, len(keys[ship.id]) + 1)
                queued = await self._queue(session, ship, order, key, now)
                stats.silent += queued
                if queued:
                    log.info("order %s: carrier quiet for %s; customer told it is still on its way (%s)",
                             order.number, _hours(now - view.quiet_since), key)
                stats.alerts += await self._alert(
                    session, ship, order, "silent",
                    f"no carrier event for {_hours(now - view.quiet_since)} (status {ship.status}). "
                    f"The customer was told we are watching it; ask the carrier.", now)

    async def _late(self, now: datetime, stats: WatchStats) -> None:
        if not self.cfg.late:
            return
        today = now.astimezone(self.tz).date()
        async with self.maker() as session, session.begin():
            for ship, order in await self._load(session, self.candidates("late", now)):
                view = _view(ship)
                ship.late_due_at = next_late_look(view, today, self.cfg, self.tz)
                if not is_late(view, today, self.cfg):
                    continue
                told = apology_due(view, today)
                if told:
                    stats.late += await self._queue(session, ship, order, Milestone.DELAYED.value, now)
                estimate = new_estimate(view, today)
                est = f"the carrier now says {estimate.isoformat()}" if estimate else "no new date from the carrier"
                stats.alerts += await self._alert(
                    session, ship, order, "late",
                    f"expected {view.first_expected_delivery.isoformat()}, not delivered yet ({est}). "
                    + ("The customer got an apology." if told else
                       f"The customer was told the new date {view.announced_delivery.isoformat()}."), now)

    async def _problems(self, now: datetime, stats: WatchStats) -> None:
        async with self.maker() as session, session.begin():
            todo = await self._load(session, self.candidates("problems", now))
            if not todo:
                return
            latest: dict[int, TrackingEventRow] = {}
            for (ev,) in await _in_chunks(session, [s.id for s, _ in todo], lambda chunk: select(
                    TrackingEventRow).where(TrackingEventRow.shipment_id.in_(chunk))
                    .order_by(TrackingEventRow.occurred_at)):
                if ev.status != "unknown":
                    latest[ev.shipment_id] = ev
            for ship, order in todo:
                ev = latest.get(ship.id)
                said = f'the carrier says "{ev.raw_text}"' if ev and ev.raw_text else "no details from the carrier"
                where = f" at {ev.location}" if ev and ev.location else ""
                what = "delivery exception" if ship.status == Status.EXCEPTION.value else "delivery attempt failed"
                extra = f"; pickup point: {ship.pickup_location}" if ship.pickup_location else ""
                kind = details.kind_of((ship.source or ship.carrier, ship.carrier), ev.raw_code, ev.raw_text,
                                       ev.status) if ev else None
                stats.alerts += await self._alert(
                    session, ship, order, ship.status,
                    f"{what}{where}: {said}{extra}. {details.told(kind, order.locale, ship.pickup_location)}", now)

    async def _preparing(self, now: datetime, stats: WatchStats) -> None:
        from tracker.poller import channels_for

        N = Notification
        async with self.maker() as session, session.begin():
            orders = sorted((await session.execute(self.candidates("preparing", now))).scalars(), key=lambda o: o.id)
            if not orders:
                return
            shipped = dict(await _in_chunks(session, [o.id for o in orders], lambda chunk: select(
                Shipment.order_id, func.min(Shipment.created_at))
                .where(Shipment.order_id.in_(chunk)).group_by(Shipment.order_id)))
            if shipped:
                orders_t = Order.__table__
                await session.execute(update(orders_t).where(orders_t.c.id == bindparam("b_id")).values(
                    first_parcel_at=bindparam("b_at")),
                    [{"b_id": oid, "b_at": as_time(at)} for oid, at in shipped.items()])
                orders = [o for o in orders if o.id not in shipped]
                if not orders:
                    return
            keys: dict[int, set[str]] = defaultdict(set)
            last: dict[int, datetime] = {}
            for oid, milestone, created in await _in_chunks(session, [o.id for o in orders], lambda chunk: select(
                    N.order_id, N.milestone, N.created_at).where(
                        N.order_id.in_(chunk), N.shipment_id.is_(None),
                        or_(N.milestone == PREPARING, N.milestone.like(f"{PREPARING}#%")))):
                keys[oid].add(milestone)
                last[oid] = max(last.get(oid, created), created)
            for order in orders:
                if not preparing_due(order.created_at, now, self.cfg, last.get(order.id)):
                    continue
                key = repeat_key(PREPARING, len(keys[order.id]) + 1)
                wanted = channels_for(order)
                if wanted:
                    result = await session.execute(insert_ignore(self.engine, N.__table__, [dict(
                        shipment_id=None, order_id=order.id, milestone=key, channel=c, state="queued", attempts=0,
                        next_attempt_at=now, created_at=now, updated_at=now) for c in wanted],
                        ["order_id", "milestone", "channel"], where=N.shipment_id.is_(None)))
                    queued = max(result.rowcount or 0, 0)
                    stats.preparing += queued
                    if queued:
                        log.info("order %s: no parcel after %s; customer told it is still being prepared (%s)",
                                 order.number, _hours(now - order.created_at), key)
                stats.alerts += int(await alerts.raise_alert(
                    session, key=f"order:{order.id}:preparing", cause="preparing", now=now,
                    message=f"order {order.number}: not shipped {_hours(now - order.created_at)} after it was "
                            f"registered (promised handling time {self.cfg.handling_hours:g} hours). The customer "
                            f"was told it is still being prepared; add its tracking number once it ships."))

    async def _date_moved(self, now: datetime, stats: WatchStats) -> None:
        N = Notification
        today = now.astimezone(self.tz).date()
        async with self.maker() as session, session.begin():
            candidates = await self._load(session, self.candidates("date_moved", now))
            if not candidates:
                return
            last: dict[int, datetime] = {}
            for sid, created in await _in_chunks(session, [s.id for s, _ in candidates], lambda chunk: select(
                    N.shipment_id, func.max(N.created_at)).where(
                        N.shipment_id.in_(chunk), N.milestone.like(f"{DATE_MOVED}@%"))
                    .group_by(N.shipment_id)):
                last[sid] = created
            for ship, order in candidates:
                view = _view(ship)
                if not date_moved_due(view, today, now, self.cfg, last.get(ship.id)):
                    continue
                new = moved_date(view, today)
                was = view.announced_delivery or view.first_expected_delivery
                ship.announced_delivery, ship.updated_at = new, now
                ship.late_due_at = None  # a new date told: the late sweep decides again when its apology is due
                queued = await self._queue(session, ship, order, date_moved_key(new), now)
                stats.date_moved += queued
                log.info("order %s: %s %s expected date moved from %s to %s; customer told (%d messages)",
                         order.number, ship.carrier, ship.tracking_number, was.isoformat(), new.isoformat(), queued)

    async def _follow_up(self, now: datetime, stats: WatchStats) -> None:
        days = self.settings.follow_up.days_after_delivery
        async with self.maker() as session, session.begin():
            candidates = await self._load(session, self.candidates("follow_up", now))
            parcels: dict[int, list[Parcel]] = defaultdict(list)
            for sid, oid, status, delivered_at, stopped_at in await _in_chunks(
                    session, sorted({o.id for _, o in candidates}), lambda chunk: select(
                        Shipment.id, Shipment.order_id, Shipment.status, Shipment.delivered_at, Shipment.stopped_at)
                    .where(Shipment.order_id.in_(chunk))):
                parcels[oid].append(Parcel(sid, status, delivered_at, stopped_at is not None))
            for ship, order in candidates:
                parcel = view_of(parcels[order.id], ship.id)
                if parcel.several and not parcel.completes_order:
                    continue  # one question per order: asked about the parcel that completed it
                if follow_up_due(_view(ship), now, days):
                    stats.follow_up += await self._queue(session, ship, order, FOLLOW_UP, now, channels=["email"])

    async def _forget_whatsapp_sessions(self, now: datetime) -> None:
        """A WhatsApp session is of use for 24 hours; the phone number it holds is not kept longer."""
        from tracker.notify.whatsapp import SESSION

        async with self.maker() as session, session.begin():
            await session.execute(delete(WhatsAppSession).where(WhatsAppSession.last_inbound_at < now - SESSION)
                                  .execution_options(synchronize_session=False))

    def erasable(self, now: datetime, limit: int = 1000):
        """Up to `limit` orders whose contact details are due for erasure: a range of ix_orders_unerased (the
        orders not erased yet, by age), so a pass reads the old orders still to erase, not every order."""
        cutoff = now - timedelta(days=self.settings.privacy.erase_contact_after_days)
        busy_shipment = select(Shipment.id).where(
            Shipment.order_id == Order.id, or_(Shipment.next_check_at.is_not(None), Shipment.updated_at > cutoff))
        waiting = select(Notification.id).where(
            Notification.order_id == Order.id, Notification.state.in_(["queued", "sending", "deferred"]))
        # an order that never shipped is finished once its wait is no longer watched (watch.expire_after_days)
        never_shipped = Order.created_at <= cutoff - timedelta(days=self.cfg.expire_after_days)
        return (select(Order.id).where(Order.erased_at.is_(None), rare(self.engine, Order.created_at <= cutoff),
                                       or_(select(Shipment.id).where(Shipment.order_id == Order.id).exists(),
                                           never_shipped),
                                       ~busy_shipment.exists(), ~waiting.exists()).limit(limit))

    async def _erase_contacts(self, now: datetime, stats: WatchStats) -> None:
        """Personal data has a lifetime: once every shipment of an order is finished and quiet for the
        configured days and nothing is waiting to be sent, what names or reaches its customer goes
        (tracker/privacy/parts.py); the anonymous history stays."""
        async with self.maker() as session, session.begin():
            ids = [oid for (oid,) in await session.execute(self.erasable(now))]
            if not ids:
                return
            await privacy.erase(session, privacy.Subject(tuple(ids)), now)  # the same erasure as on request
        stats.erased += len(ids)
