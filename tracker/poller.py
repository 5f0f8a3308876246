"""Claim due shipments -> group by carrier -> batch -> carrier.track() -> apply() -> one transaction.

The database is the queue: a shipment is due when `next_check_at <= now` and its lease is free or
expired. Claiming stamps `leased_until`/`lease_owner`; on PostgreSQL the claim uses
`FOR UPDATE SKIP LOCKED` so any number of daemons can share the table.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import aiohttp
from sqlalchemy import String, bindparam, case, cast, func, or_, select, union_all, update

from tracker import alerts, carrier_codes, logs
from tracker.carriers.base import (
    AuthFailed,
    Carrier,
    CarrierError,
    Invalid,
    NotFoundYet,
    RateLimited,
    Temporary,
    TrackingResult,
)
from tracker.clock import Clock
from tracker.config import PollerSettings, SourcesSettings
from tracker.db import insert_ignore, insert_ignore_many, sessionmaker, write_lock
from tracker.models import (
    Alert,
    CarrierState,
    Notification,
    Order,
    Shipment,
    SourceSubscription,
    TrackingEventRow,
    UTCDateTime,
    WebhookEvent,
)
from tracker.rate import SharedRate
from tracker.retry import backoff
from tracker.schedule import about_to_ship, next_check, next_check_pushed
from tracker.status import Known, Status, announced_from_rows, apply
from tracker.wording import details

log = logging.getLogger("tracker.poller")

# Longest a batch waits for its carrier's rate limit; beyond that it goes back to the queue for later.
MAX_PACING_WAIT = 5.0
# Most shipments one persist() transaction writes when it groups finished batches.
MAX_GROUP = 1000
# A carrier paused for refused credentials is tried again after this long, doubling up to PAUSE_MAX.
PAUSE_FIRST, PAUSE_MAX = 15 * 60, 6 * 3600


# Statuses whose next step the customer is waiting for right now: served first when a budget is short.
URGENT_STATUSES = ("out_for_delivery", "failed_attempt", "available_for_pickup", "exception")


def next_utc_midnight(now: datetime) -> datetime:
    return datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)


@dataclass
class CarrierRuntime:
    """One carrier as this process sees it: its client, pacing, budget and health."""

    carrier: Carrier
    limiter: SharedRate  # requests per second, shared by every daemon on the database
    paused_reason: str | None = None
    paused_until: datetime | None = None
    pauses: int = 0
    cooldown_until: datetime | None = None
    failing_since: datetime | None = None
    failures: int = 0
    # the database shows trouble (written by this or another daemon) for the next success to clear
    health_dirty: bool = False
    calls_today: int = 0
    budget_day: date | None = None

    @property
    def budget(self) -> int | None:
        return self.carrier.budget_per_day

    def budget_tight(self, now: datetime) -> bool:
        """Spending ahead of an even pace through the day (plus a 5% burst): keep calls for urgent news."""
        if self.budget is None:
            return False
        spent = self.calls_today if self.budget_day == now.date() else 0
        midnight = datetime.combine(now.date(), datetime.min.time(), tzinfo=timezone.utc)
        day_fraction = (now - midnight).total_seconds() / 86400
        return spent >= self.budget * day_fraction + max(1.0, self.budget * 0.05)

    def available(self, now: datetime) -> bool:
        paused = self.paused_reason is not None and (self.paused_until is None or self.paused_until > now)
        return not paused and (self.cooldown_until is None or self.cooldown_until <= now)

    def failed(self, now: datetime, error: BaseException) -> None:
        self.failures += 1
        if self.failing_since is None:
            self.failing_since = now
            log.warning("carrier %s is failing: %s", self.carrier.name, _describe(error))

    def succeeded(self) -> None:
        if self.paused_reason is not None:
            log.warning("carrier %s: credentials accepted again; pause lifted", self.carrier.name)
        elif self.failing_since is not None:
            log.info("carrier %s recovered after %d failed calls", self.carrier.name, self.failures)
        self.failing_since, self.failures = None, 0
        self.paused_reason, self.paused_until, self.pauses = None, None, 0


@dataclass
class TickStats:
    claimed: int = 0
    checked: int = 0
    queued: int = 0
    calls: int = 0
    errors: dict[str, int] = field(default_factory=dict)


def outcome(result: object) -> str:
    """A poll's outcome for /metrics: ok, or the carrier error's kind (not_found_yet, temporary, invalid...)."""
    if not isinstance(result, BaseException):
        return "ok"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(result).__name__).lower()


class DuplicateEvent(Exception):
    """A pushed webhook whose event id was applied before: nothing was written."""


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class Poller:
    def __init__(self, *, engine, settings: PollerSettings, carriers: dict[str, CarrierRuntime], clock: Clock,
                 owner: str, rng: random.Random | None = None, sources: SourcesSettings | None = None) -> None:
        self.engine = engine
        self.maker = sessionmaker(engine)
        self.settings = settings
        self.sources = sources or SourcesSettings()
        self.carriers = carriers  # by source name: a carrier's own module, or an aggregator
        self.push_sources = {name for name, rt in carriers.items() if rt.carrier.pushes}
        self.clock = clock
        self.owner = owner
        self.rng = rng or random.Random()
        self.stopping = False
        self.on_news: Callable[[], None] | None = None  # called when a batch queued notifications
        self._sem = asyncio.Semaphore(settings.concurrency)
        # SQLite has one writer at a time: concurrent batches queue for it here rather than in SQLite's busy
        # handler, which sleeps and retries (measured: 8 concurrent batches spent most of their time there).
        self._writing = write_lock(engine)
        self._pending: list[tuple] = []  # batches waiting for persist()'s next transaction
        self._flusher: asyncio.Future | None = None
        # Checks done by this process, by (carrier, outcome); /metrics shows them.
        self.polls: Counter[tuple[str, str]] = Counter()

    # --- claim ---------------------------------------------------------------------------------
    async def claim(self, now: datetime, carriers: Sequence[str], limit: int, *, urgent_only: Sequence[str] = (),
                    due_by: datetime | None = None) -> list[tuple[int, str, str]]:
        """Lease up to `limit` shipments due by `due_by` (default now). Carriers in `urgent_only` are short
        of budget: only their urgent shipments are claimed, the rest wait (their checks stretch)."""
        stmt = self.claim_statement(now, carriers, limit, urgent_only=urgent_only, due_by=due_by)
        if stmt is None:
            return []
        async with self._writing, self.maker() as session, session.begin():
            rows = (await session.execute(stmt)).all()
        return [tuple(r) for r in rows]

    def claim_statement(self, now: datetime, carriers: Sequence[str], limit: int, *,
                        urgent_only: Sequence[str] = (), due_by: datetime | None = None):
        """The claim's one UPDATE ... RETURNING (None: nothing to claim from)."""
        S = Shipment
        by, free = due_by or now, or_(S.leased_until.is_(None), S.leased_until < now)
        # One index range per source (ix_shipments_claim: source, next_check_at), read in due order and cut at
        # `limit`; urgent ones one range per (source, status) (ix_shipments_claim_urgent). The union is sorted
        # again, so a claim reads at most `limit` rows a range, never every row of a carrier.
        ranges = [(S.source == name,) for name in carriers]
        ranges += [(S.source == name, S.status == status) for name in urgent_only for status in URGENT_STATUSES]
        if not ranges:
            return None
        parts = [select(S.id, S.next_check_at).where(*where, S.next_check_at <= by, free)
                 .order_by(S.next_check_at).limit(limit).with_for_update(skip_locked=True).subquery()
                 for where in ranges]
        if len(parts) == 1:
            picked = select(parts[0].c.id)
        else:
            union = union_all(*(select(p.c.id, p.c.next_check_at) for p in parts)).subquery()
            picked = select(union.c.id).order_by(union.c.next_check_at).limit(limit)
        return (
            update(S).where(S.id.in_(picked.scalar_subquery()))
            .values(leased_until=now + timedelta(seconds=self.settings.lease_seconds), lease_owner=self.owner)
            .returning(S.id, S.source, S.tracking_number)
            .execution_options(synchronize_session=False)
        )

    async def load_budgets(self) -> None:
        """Make sure every carrier has its shared state row and read today's spend (all daemons share it)."""
        now = self.clock.now()
        async with self.maker() as session, session.begin():
            await session.execute(insert_ignore(self.engine, CarrierState.__table__, [
                dict(carrier=name, calls_today=0, updated_at=now) for name in self.carriers], ["carrier"]))
            for state in (await session.execute(select(CarrierState))).scalars():
                rt = self.carriers.get(state.carrier)
                if rt is not None:
                    rt.calls_today, rt.budget_day = state.calls_today, state.budget_day
                    # a pause written before a restart is not taken over: the credentials may be fixed
                    # now, and the first call tells (its success clears the row)
                    rt.health_dirty = bool(state.paused_reason or state.failing_since or state.next_try_at)

    async def spend(self, rt: CarrierRuntime, now: datetime) -> bool:
        """Reserve one call of the carrier's daily budget, atomically across daemons. False when spent."""
        if rt.budget is None:
            return True
        today = now.date()
        C = CarrierState
        async with self._writing, self.maker() as session, session.begin():
            row = (await session.execute(
                update(C).where(C.carrier == rt.carrier.name,
                                or_(C.budget_day.is_(None), C.budget_day != today, C.calls_today < rt.budget))
                .values(calls_today=case((C.budget_day == today, C.calls_today + 1), else_=1), budget_day=today,
                        updated_at=now)
                .returning(C.calls_today).execution_options(synchronize_session=False))).first()
        rt.budget_day = today
        if row is None:
            rt.calls_today = rt.budget
            return False
        rt.calls_today = row[0]
        return True

    async def renew(self, items: list[tuple[int, str]]) -> list[tuple[int, str]]:
        """Extend the lease of claimed shipments still owned here, right before asking the carrier.
        Anything another daemon took over meanwhile (our lease expired while waiting) is dropped."""
        now = self.clock.now()
        async with self._writing, self.maker() as session, session.begin():
            mine = {sid for (sid,) in await session.execute(
                update(Shipment)
                .where(Shipment.id.in_([sid for sid, _ in items]), Shipment.lease_owner == self.owner)
                .values(leased_until=now + timedelta(seconds=self.settings.lease_seconds))
                .returning(Shipment.id).execution_options(synchronize_session=False))}
        return [(sid, n) for sid, n in items if sid in mine]

    async def release(self, ids: Sequence[int], *, next_check_at: datetime | None = None,
                      error: str | None = None) -> None:
        """Give claimed shipments back to the queue (shutdown, carrier paused or rate limited)."""
        if not ids:
            return
        values: dict = {"leased_until": None, "lease_owner": None}
        if next_check_at is not None:
            values["next_check_at"] = next_check_at
        if error is not None:
            values["last_error"] = error
        async with self._writing, self.maker() as session, session.begin():
            await session.execute(
                update(Shipment).where(Shipment.id.in_(list(ids)), Shipment.lease_owner == self.owner)
                .values(**values).execution_options(synchronize_session=False)
            )

    async def release_all(self) -> None:
        async with self.maker() as session, session.begin():
            await session.execute(
                update(Shipment).where(Shipment.lease_owner == self.owner)
                .values(leased_until=None, lease_owner=None).execution_options(synchronize_session=False)
            )

    # --- tick ----------------------------------------------------------------------------------
    async def tick(self) -> TickStats:
        """Claim what is due now and check it. Returns what happened, for run-once loops and metrics."""
        stats = TickStats()
        if self.stopping:
            return stats
        now = self.clock.now()
        await self._shared_cooldowns(now)
        ready = [name for name, rt in self.carriers.items() if rt.available(now)]
        if not ready:
            return stats
        tight = [name for name in ready if self.carriers[name].budget_tight(now)]
        normal = [name for name in ready if name not in tight]
        claimed = await self.claim(now, normal, self.settings.claim_batch, urgent_only=tight)
        by_carrier: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for sid, carrier, number in claimed:
            by_carrier[carrier].append((sid, number))
        # Fill the last batch of a batching carrier with shipments that are nearly due: same call, more news.
        if self.settings.batch_fill_seconds and len(claimed) < self.settings.claim_batch:
            horizon = now + timedelta(seconds=self.settings.batch_fill_seconds)
            for carrier, items in list(by_carrier.items()):
                gap = -len(items) % self.carriers[carrier].carrier.batch_size
                if gap:
                    extra = await self.claim(now, [] if carrier in tight else [carrier], gap,
                                             urgent_only=[carrier] if carrier in tight else (), due_by=horizon)
                    items.extend((sid, number) for sid, _, number in extra)
        stats.claimed = sum(len(items) for items in by_carrier.values())
        batches = []
        for carrier, items in by_carrier.items():
            size = self.carriers[carrier].carrier.batch_size
            batches.extend((carrier, items[i:i + size]) for i in range(0, len(items), size))
        fresh_until = now + timedelta(seconds=self.settings.lease_seconds / 2)
        await asyncio.gather(*(self._run_batch(carrier, items, stats, fresh_until) for carrier, items in batches))
        return stats

    async def _shared_cooldowns(self, now: datetime) -> None:
        """A carrier's "wait" (429 with Retry-After) that any daemon got, from the shared carrier_states row:
        every daemon waits it out, not only the one the carrier told. (A credentials pause is not taken
        over from the row: each daemon finds it with its own call, the credentials may be fixed by now.)"""
        C = CarrierState
        async with self.maker() as session:
            rows = (await session.execute(select(C.carrier, C.next_try_at).where(
                C.paused_reason.is_(None), C.next_try_at > now))).all()
        for name, until in rows:
            rt = self.carriers.get(name)
            if rt is not None and (rt.cooldown_until is None or rt.cooldown_until < until):
                rt.cooldown_until = until
                rt.health_dirty = True

    async def _run_batch(self, name: str, items: list[tuple[int, str]], stats: TickStats,
                         fresh_until: datetime) -> None:
        logs.about(carrier=name)
        ids = [sid for sid, _ in items]
        async with self._sem:
            rt = self.carriers[name]
            now = self.clock.now()
            if self.stopping or not rt.available(now):
                await self.release(ids)
                return
            # a slow-paced carrier (USPS: one call a minute) must not hold a slot other carriers need
            booked, wait = await rt.limiter.acquire(MAX_PACING_WAIT)
            if not booked:
                await self.release(ids, next_check_at=now + timedelta(seconds=wait))
                return
            if self.clock.now() >= fresh_until:  # waited long: make sure the numbers are still ours
                items = await self.renew(items)
                if not items:
                    return
                ids = [sid for sid, _ in items]
            if not await self.spend(rt, now):
                resume = next_utc_midnight(now)
                rt.cooldown_until = resume
                log.warning("carrier %s: daily budget of %d calls spent; polling resumes at %s",
                            name, rt.budget, resume.isoformat())
                await self.release(ids, next_check_at=resume)
                return
            stats.calls += 1
            try:
                # Bounded below the lease, so no other daemon can claim these numbers while we ask.
                timeout = min(rt.carrier.settings.timeout_seconds + 5, self.settings.lease_seconds / 2)
                results = await asyncio.wait_for(rt.carrier.track([n for _, n in items]), timeout)
            except RateLimited as exc:
                wait = exc.retry_after if exc.retry_after is not None else 60.0
                rt.cooldown_until = now + timedelta(seconds=wait)
                await self._failed(rt, now, exc, next_try=rt.cooldown_until)
                stats.errors["rate_limited"] = stats.errors.get("rate_limited", 0) + 1
                self.polls[(name, "rate_limited")] += len(items)
                await self.release(ids, next_check_at=rt.cooldown_until, error=_describe(exc))
                return
            except AuthFailed as exc:
                await self._pause(rt, exc, now)
                stats.errors["auth"] = stats.errors.get("auth", 0) + 1
                self.polls[(name, "auth_failed")] += len(items)
                await self.release(ids, error=_describe(exc))
                return
            except (CarrierError, asyncio.TimeoutError, aiohttp.ClientError, ValueError) as exc:
                await self._failed(rt, now, exc)
                stats.errors["temporary"] = stats.errors.get("temporary", 0) + 1
                results = {n: exc if isinstance(exc, CarrierError) else Temporary(_describe(exc)) for _, n in items}
            except Exception as exc:  # a bug in a carrier module must not stop the daemon
                log.exception("carrier %s crashed while tracking %d numbers", name, len(items))
                await self._failed(rt, now, exc)
                results = {n: Temporary(_describe(exc)) for _, n in items}
            else:
                await self._succeeded(rt, now)
        stats.checked += len(items)
        for result in results.values():
            self.polls[(name, outcome(result))] += 1
        queued = await self.persist(name, items, results)
        stats.queued += queued
        if queued and self.on_news is not None:
            self.on_news()

    async def _failed(self, rt: CarrierRuntime, now: datetime, exc: BaseException, *,
                      next_try: datetime | None = None, paused: str | None = None) -> None:
        """Count a failed call in memory and in the shared carrier_states row (what status and /metrics show)."""
        rt.failed(now, exc)
        rt.health_dirty = True
        C = CarrierState
        since = func.coalesce(C.failing_since, bindparam("since", now, type_=UTCDateTime()))
        values: dict = dict(failing_since=since, failures=C.failures + 1, last_error=_describe(exc)[:500],
                            next_try_at=next_try, updated_at=now)
        if paused is not None:
            values.update(paused_reason=paused, paused_until=next_try)
        async with self._writing, self.maker() as session, session.begin():
            await session.execute(insert_ignore(self.engine, C.__table__, [dict(
                carrier=rt.carrier.name, calls_today=0, updated_at=now)], ["carrier"]))
            await session.execute(update(C).where(C.carrier == rt.carrier.name).values(**values)
                                  .execution_options(synchronize_session=False))
            if paused is not None:
                await alerts.raise_alert(
                    session, key=f"carrier:{rt.carrier.name}:auth", cause="carrier_auth", carrier=rt.carrier.name,
                    message=f"{rt.carrier.name}: credentials refused ({paused}); polling paused and tried again "
                            f"from time to time (next {next_try:%Y-%m-%d %H:%M} UTC). The credentials come from "
                            f"the environment variables that carriers.{rt.carrier.name} in config.yaml names "
                            f"(${{...}}): set them right and restart the daemon. The pause lifts as soon as a "
                            f"call succeeds.", now=now)

    async def _succeeded(self, rt: CarrierRuntime, now: datetime) -> None:
        rt.succeeded()
        if not rt.health_dirty:
            return
        rt.health_dirty = False
        key = f"carrier:{rt.carrier.name}:auth"
        async with self._writing, self.maker() as session, session.begin():
            await session.execute(update(CarrierState).where(CarrierState.carrier == rt.carrier.name).values(
                paused_reason=None, paused_until=None, failing_since=None, failures=0, last_error=None,
                next_try_at=None, updated_at=now).execution_options(synchronize_session=False))
            # the pause's alert is settled, and set aside under another key so that a new pause alerts again
            await session.execute(update(Alert).where(Alert.key == key).values(
                key=Alert.key + ":lifted:" + cast(Alert.id, String),
                acked_at=func.coalesce(Alert.acked_at, bindparam("acked", now, type_=UTCDateTime())),
                acked_by=func.coalesce(Alert.acked_by, "tracker: calls succeed again"))
                .execution_options(synchronize_session=False))

    async def _pause(self, rt: CarrierRuntime, exc: AuthFailed, now: datetime) -> None:
        reason = str(exc) or "credentials refused"
        first = rt.paused_reason is None
        rt.pauses += 1
        resume = now + timedelta(seconds=min(PAUSE_MAX, PAUSE_FIRST * 2 ** (rt.pauses - 1)))
        if first:
            log.error("carrier %s paused: authentication failed (%s); other carriers carry on; tried again at %s",
                      rt.carrier.name, reason, resume.isoformat())
        else:
            log.info("carrier %s: credentials still refused; tried again at %s", rt.carrier.name, resume.isoformat())
        await self._failed(rt, now, exc, next_try=resume, paused=reason)
        rt.paused_reason, rt.paused_until = reason, resume

    # --- persist -------------------------------------------------------------------------------
    async def persist(self, carrier: str, items: list[tuple[int, str]],
                      results: dict[str, TrackingResult | CarrierError], *, event: str | None = None,
                      heard_at: datetime | None = None) -> int:
        """Apply results and write events, shipment and outbox rows in ONE transaction. Returns rows queued.

        Poll results and pushed news take this same path. A poll writes only shipments whose lease it holds;
        a push (`event`: the webhook's event id at source `carrier`) writes whatever the lease, records the
        event in the same transaction, and raises DuplicateEvent, writing nothing, for an event seen before.

        Batches that finish while a write is under way are written together in the next transaction (group
        commit): every check's rows still commit together, and a one-number carrier (UPS, USPS, DHL) costs
        one set of queries per group rather than per number. `heard_at`: when tracker heard the news (a push's
        arrival in the inbox; default now), recorded on the messages it queues (tracker/freshness.py)."""
        done = asyncio.get_running_loop().create_future()
        self._pending.append((carrier, items, results, event, heard_at, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())
        return await asyncio.shield(done)

    async def _flush(self) -> None:
        while self._pending:
            group, seen, rest = [], set(), []
            for entry in self._pending:
                sids = {sid for sid, _ in entry[1]}
                if sids & seen or (group and len(seen) + len(sids) > MAX_GROUP):
                    rest.append(entry)
                else:
                    group.append(entry)
                    seen |= sids
            self._pending = rest
            try:
                counts = await self._persist_group([(c, i, r, e, h) for c, i, r, e, h, _ in group])
            except asyncio.CancelledError:
                for *_, done in group + self._pending:
                    done.cancel()
                self._pending = []
                raise
            except Exception as exc:
                for *_, done in group:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for (*_, done), n in zip(group, counts):
                if not done.done():
                    if n is None:
                        done.set_exception(DuplicateEvent())
                    else:
                        done.set_result(n)

    async def _persist_group(self, group: list[tuple[str, list[tuple[int, str]],
                                                     dict[str, TrackingResult | CarrierError], str | None,
                                                     datetime | None]]) -> list[int | None]:
        """persist() for several batches in one transaction. Returns rows queued for each batch (None: a
        pushed event already applied)."""
        now = self.clock.now()
        async with self._writing, self.maker() as session, session.begin():
            duplicate: set[int] = set()
            for i, (source, _, _, event, _) in enumerate(group):
                if event is not None:
                    first = await session.execute(insert_ignore(self.engine, WebhookEvent.__table__, [dict(
                        source=source, event_id=event[:128], received_at=now)], ["source", "event_id"]))
                    if not first.rowcount:
                        duplicate.add(i)
            live = [entry for i, entry in enumerate(group) if i not in duplicate]
            counts = await self._write(session, live, now)
        it = iter(counts)
        return [None if i in duplicate else next(it) for i in range(len(group))]

    async def _write(self, session, group, now: datetime) -> list[int]:
        answers = {sid: (carrier, results, event is not None, heard_at or now)
                   for carrier, items, results, event, heard_at in group for sid, _ in items}
        ids = list(answers)
        queued_by: Counter[int] = Counter()
        ships = [_Ship(row) for row in (await session.execute(
            select(SHIPMENTS).where(SHIPMENTS.c.id.in_(ids)).with_for_update())).mappings()]
        # a poll writes only what it still leases (else someone else has it); a push writes regardless
        ships = [s for s in ships if answers[s.id][2] or s.lease_owner == self.owner]
        if not ships:
            return [0] * len(group)
        order_ids = {s.order_id for s in ships}
        orders = {o.id: o for o in (await session.execute(
            select(Order).where(Order.id.in_(order_ids)))).scalars()}
        keys: dict[int, set[str]] = defaultdict(set)
        for sid, key in await session.execute(
                select(TrackingEventRow.shipment_id, TrackingEventRow.key)
                .where(TrackingEventRow.shipment_id.in_(ids))):
            keys[sid].add(key)
        notes: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for sid, milestone, state in await session.execute(
                select(Notification.shipment_id, Notification.milestone, Notification.state)
                .where(Notification.shipment_id.in_(ids))):
            notes[sid].append((milestone, state))

        event_rows: list[dict] = []
        note_rows: list[dict] = []
        supersede: list[tuple[int, list[str]]] = []
        for ship in ships:
            carrier, results, pushed, heard_at = answers[ship.id]
            result = results.get(ship.tracking_number)
            if pushed:
                ship.push_heard_at = now
            else:
                ship.leased_until, ship.lease_owner, ship.last_checked_at = None, None, now
            ship.updated_at = now
            if isinstance(result, TrackingResult):
                queued_by[ship.id] += self._apply_result(ship, orders[ship.order_id], result, keys[ship.id],
                                             notes[ship.id], event_rows, note_rows, supersede, now, pushed=pushed,
                                             heard_at=heard_at)
            elif isinstance(result, NotFoundYet):
                await self._not_found(session, ship, orders[ship.order_id], now)
            elif isinstance(result, Invalid):
                ship.last_error = _describe(result)
                ship.next_check_at = None
                await alerts.raise_alert(
                    session, key=f"shipment:{ship.id}:invalid", cause="invalid_number", shipment_id=ship.id,
                    message=f"{carrier} refused tracking number {ship.tracking_number}: {result}", now=now)
            else:
                error = result if result is not None else Temporary("carrier did not answer for this number")
                ship.failures += 1
                ship.last_error = _describe(error)
                wait = getattr(error, "retry_after", None) or backoff(
                    ship.failures, 60, self.settings.backoff_max_seconds, self.rng)
                ship.next_check_at = now + timedelta(seconds=wait)
        await session.execute(SAVE_SHIPMENT, [
            {"b_id": ship.id, **{f"v_{c}": getattr(ship, c) for c in WRITTEN}} for ship in ships])
        if event_rows:
            await session.execute(insert_ignore_many(self.engine, TrackingEventRow.__table__,
                                                     ["shipment_id", "key"]), event_rows)
            source_of = {s.id: s.source or s.carrier for s in ships}
            unknown = [(source_of[r["shipment_id"]], r["raw_code"], r["raw_text"]) for r in event_rows
                       if r["status"] == Status.UNKNOWN.value]
            by_id = {s.id: s for s in ships}
            unknown += details.unmapped(
                dict(r, sources=(source_of[r["shipment_id"]], by_id[r["shipment_id"]].carrier)) for r in event_rows)
            if unknown:
                await carrier_codes.record(session, unknown, now)
        for sid, milestones in supersede:
            await session.execute(
                update(Notification).where(
                    Notification.shipment_id == sid, Notification.milestone.in_(milestones),
                    Notification.state.in_(["queued", "deferred"]),
                ).values(state="suppressed", error="superseded by newer news", updated_at=now)
                .execution_options(synchronize_session=False))
        if note_rows:
            await session.execute(insert_ignore_many(self.engine, Notification.__table__,
                                                     ["shipment_id", "milestone", "channel"]), note_rows)
        finished = [s.id for s in ships if s.source in self.push_sources and s.status in FINISHED]
        if finished:  # no more pushes wanted: the subscriber stops them at the source
            Sub = SourceSubscription
            await session.execute(update(Sub).where(Sub.shipment_id.in_(finished), Sub.state == "active")
                                  .values(state="stopping", next_try_at=now, updated_at=now)
                                  .execution_options(synchronize_session=False))
            await session.execute(update(Sub).where(Sub.shipment_id.in_(finished), Sub.state == "pending")
                                  .values(state="stopped", next_try_at=None, updated_at=now)
                                  .execution_options(synchronize_session=False))
        return [sum(queued_by[sid] for sid, _ in items) for _, items, _, _, _ in group]

    def _apply_result(self, ship: _Ship, order: Order, result: TrackingResult, keys: set[str],
                      notes: list[tuple[str, str]], event_rows: list[dict], note_rows: list[dict],
                      supersede: list[tuple[int, list[str]]], now: datetime, *, pushed: bool = False,
                      heard_at: datetime | None = None) -> int:
        known = Known(status=Status(ship.status), status_at=ship.status_at, event_keys=frozenset(keys),
                      announced=announced_from_rows(notes))
        outcome = apply(known, result, now)
        before = (ship.status, ship.last_event_at, ship.expected_delivery, ship.first_expected_delivery)
        for code in outcome.unknown_codes:
            log.warning("carrier %s sent an unknown status code %r (shipment %s); recorded as unknown",
                        ship.carrier, code, ship.id)
        for e in outcome.new_events:
            event_rows.append(dict(
                shipment_id=ship.id, key=e.key, occurred_at=e.occurred_at, utc_offset_minutes=e.utc_offset_minutes,
                status=e.status.value, raw_code=e.raw_code[:64], raw_text=e.raw_text, location=e.location,
                recorded_at=now))
        if outcome.new_events:
            latest = max(e.occurred_at for e in outcome.new_events)
            if ship.last_event_at is None or latest > ship.last_event_at:
                ship.last_event_at = latest
        if outcome.status.value != ship.status:
            log.info("order %s: %s %s %s -> %s", order.number, ship.carrier, ship.tracking_number, ship.status,
                     outcome.status.value)
        ship.status, ship.status_at = outcome.status.value, outcome.status_at
        if outcome.status is Status.DELIVERED and ship.delivered_at is None:
            ship.delivered_at = outcome.status_at or now
        if result.expected_delivery:
            ship.expected_delivery = result.expected_delivery
            ship.first_expected_delivery = ship.first_expected_delivery or result.expected_delivery
        if (ship.status, ship.last_event_at, ship.expected_delivery, ship.first_expected_delivery) != before:
            ship.silence_due_at = ship.late_due_at = None  # news: the silence and late sweeps look afresh when due
        ship.signed_by = result.signed_by or ship.signed_by
        ship.pickup_location = result.pickup_location or ship.pickup_location
        ship.pickup_until = result.pickup_until or ship.pickup_until
        # a window is about today's round: it goes with out for delivery and stops meaning anything after it
        ship.delivery_window = result.delivery_window if outcome.status is Status.OUT_FOR_DELIVERY else None
        ship.failures, ship.last_error = 0, None
        ship.next_check_at = next_check(outcome.status, now, self.settings, self.rng,
                                        expected_delivery=ship.expected_delivery,
                                        tz=order.timezone or self.settings.timezone, since=ship.created_at)
        if ship.source in self.push_sources:
            # a safety check that finds nothing new shows the source missed nothing (the carrier is quiet):
            # wait another quiet spell; one that finds news the pushes missed hands over to polling
            heard = now if not outcome.new_events and ship.push_heard_at is not None else ship.push_heard_at
            ship.next_check_at = next_check_pushed(outcome.status, now, heard, self.sources.push_quiet_hours,
                                                   ship.next_check_at)
        if ship.stopped_at is not None:
            ship.next_check_at = None  # tracking was stopped: news is recorded, nothing more is polled
        if outcome.supersede:
            supersede.append((ship.id, [m.value for m in outcome.supersede]))
        if outcome.milestone is None:
            return 0
        count = 0
        for channel in channels_for(order):
            note_rows.append(dict(
                shipment_id=ship.id, order_id=order.id, milestone=outcome.milestone.value, channel=channel,
                state="queued", attempts=0, next_attempt_at=now, created_at=now, updated_at=now,
                # freshness (tracker/freshness.py): the carrier's event, and when and how tracker heard of it
                event_at=outcome.status_at, heard_at=heard_at or now, heard_via="push" if pushed else "poll"))
            count += 1
        return count

    async def _not_found(self, session, ship: _Ship, order: Order, now: datetime) -> None:
        ship.failures += 1
        ship.last_error = "not known to the carrier yet"
        if now - ship.created_at > timedelta(days=self.settings.expire_after_days) and ship.last_event_at is None:
            ship.status, ship.status_at, ship.next_check_at = Status.EXPIRED.value, now, None
            await alerts.raise_alert(
                session, key=f"shipment:{ship.id}:expired", cause="expired", shipment_id=ship.id, now=now,
                message=f"{ship.carrier} {ship.tracking_number}: still unknown to the carrier after "
                        f"{self.settings.expire_after_days:g} days; polling stopped.")
            return
        if self.settings.adaptive and about_to_ship(now, ship.created_at, self.settings):
            # the shop is most likely still handling it: the pickup scan ("shipped") is news soon
            ship.next_check_at = next_check(Status.PENDING, now, self.settings, self.rng,
                                            tz=order.timezone or self.settings.timezone, since=ship.created_at)
            return
        wait = backoff(ship.failures, self.settings.intervals.pending, self.settings.backoff_max_seconds, self.rng)
        ship.next_check_at = now + timedelta(seconds=wait)


# persist() reads shipments as plain rows and writes them back with one executemany UPDATE: loading and
# flushing ORM objects was most of the cost of a check. WRITTEN is every column a check may change.
SHIPMENTS = Shipment.__table__
WRITTEN = ("leased_until", "lease_owner", "last_checked_at", "updated_at", "status", "status_at", "last_event_at",
           "delivered_at", "expected_delivery", "first_expected_delivery", "signed_by", "pickup_location",
           "pickup_until", "failures", "last_error", "next_check_at", "push_heard_at", "delivery_window",
           "silence_due_at", "late_due_at")
FINISHED = {Status.DELIVERED.value, Status.EXPIRED.value}
SAVE_SHIPMENT = (update(SHIPMENTS).where(SHIPMENTS.c.id == bindparam("b_id"))
                 .values({c: bindparam(f"v_{c}") for c in WRITTEN}))


class _Ship:
    """A shipment row as a mutable attribute bag (what persist() and _apply_result() change)."""

    def __init__(self, row) -> None:
        self.__dict__.update(row)


def channels_for(order: Order) -> list[str]:
    """The channels an order wants and has an address for."""
    have = {"sms": bool(order.phone), "whatsapp": bool(order.phone), "email": bool(order.email)}
    return [c for c in order.channel_list if have.get(c)]
