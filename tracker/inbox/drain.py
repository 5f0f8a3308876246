"""Applying stored pushes behind the webhook's answer, by any daemon, in order per shipment.

A row is claimed with a lease (SKIP LOCKED on PostgreSQL) only when no earlier row of its key (the
push's first tracking number) is still pending, so one shipment's pushes are applied in the order they
arrived, whichever daemons drain. Applying is what the webhook handler used to do inline: match the
numbers to our shipments of that source, then the poller's persist() (the same apply() and ONE
transaction, the event id recorded in it, so a row applied by a daemon that died before marking it is
recognised, not applied twice). A row that fails is retried with backoff; after `max_attempts` it is kept
as `failed` and support is alerted: nothing acknowledged is lost silently.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.orm import aliased

from tracker import alerts
from tracker.carriers.catalog import AUTO
from tracker.clock import Clock
from tracker.config import InboxSettings
from tracker.db import insert_ignore, sessionmaker, write_lock
from tracker.models import PushInbox, Shipment, SourceState, SourceSubscription, WebhookEvent
from tracker.poller import DuplicateEvent
from tracker.retry import backoff

log = logging.getLogger("tracker.inbox")


class InboxDrain:
    def __init__(self, *, engine, carriers: dict, poller, settings: InboxSettings, clock: Clock, owner: str,
                 rng: random.Random | None = None) -> None:
        self.engine = engine
        self.maker = sessionmaker(engine)
        self.carriers = carriers  # name -> CarrierRuntime
        self.poller = poller
        self.cfg = settings
        self.clock = clock
        self.owner = owner
        self.rng = rng or random.Random()
        self.counts: Counter = Counter()  # (source, outcome) -> count, for /metrics
        self.on_news: Callable[[], None] | None = None  # wakes the dispatcher
        self.stopping = False
        self._writing = write_lock(engine)
        self._pruned_at: datetime | None = None

    async def tick(self) -> int:
        """Apply the pushes due now. Returns how many rows were handled."""
        if self.stopping:
            return 0
        now = self.clock.now()
        rows = await self._claim(now)
        # the claim takes one row per key (shipment): they may be applied together, and the poller's group
        # commit writes the news of all of them in one transaction
        shipments = await self._shipments(rows)  # one query for every number of the group
        outcomes = await asyncio.gather(*(self._try(row, shipments) for row in rows))
        applied = [row.id for row, (queued, exc) in zip(rows, outcomes) if exc is None]
        if applied:
            await self._mark_applied(applied)
        for row, (_, exc) in zip(rows, outcomes):
            if exc is not None:
                await self._failed(row, exc)
        if sum(q for q, _ in outcomes) and self.on_news is not None:
            self.on_news()
        await self._prune(now)
        return len(rows)

    async def _claim(self, now: datetime) -> list[PushInbox]:
        P, Q = PushInbox, aliased(PushInbox)
        earlier = exists().where(Q.key == P.key, Q.state == "pending", Q.id < P.id)
        due = (select(P.id)
               .where(P.state == "pending", P.next_try_at <= now,
                      or_(P.leased_until.is_(None), P.leased_until < now), ~earlier)
               .order_by(P.id).limit(self.cfg.claim_batch)
               .with_for_update(skip_locked=True))
        stmt = (update(P).where(P.id.in_(due.scalar_subquery()))
                .values(lease_owner=self.owner, leased_until=now + timedelta(seconds=self.cfg.lease_seconds),
                        attempts=P.attempts + 1)
                .returning(P.id).execution_options(synchronize_session=False))
        async with self._writing, self.maker() as session, session.begin():
            ids = [r[0] for r in (await session.execute(stmt)).all()]
        if not ids:
            return []
        async with self.maker() as session:
            return list((await session.execute(select(P).where(P.id.in_(ids)).order_by(P.id))).scalars())

    async def _try(self, row: PushInbox, shipments: dict) -> tuple[int, Exception | None]:
        try:
            return await self._apply(row, shipments), None
        except Exception as exc:
            return 0, exc

    def _parse(self, row: PushInbox):
        rt = self.carriers.get(row.source)
        if rt is None or not rt.carrier.pushes:
            raise LookupError(f"{row.source} is no longer a configured push source (carriers.{row.source})")
        return rt, rt.carrier.parse_push(row.body)

    async def _shipments(self, rows: list[PushInbox]) -> dict[tuple[str, str], list]:
        """(source, number) -> our unstopped shipments of that source with that number, for every push."""
        wanted: dict[str, set[str]] = {}
        for row in rows:
            try:
                _, news = self._parse(row)
            except Exception:  # reported when the row itself is applied
                continue
            wanted.setdefault(row.source, set()).update(item.number for item in news.news)
        out: dict[tuple[str, str], list] = {}
        async with self.maker() as session:
            for source, numbers in wanted.items():
                for r in (await session.execute(
                        select(Shipment.id, Shipment.carrier, Shipment.tracking_number)
                        .where(Shipment.source == source, Shipment.tracking_number.in_(sorted(numbers)),
                               Shipment.stopped_at.is_(None)))).all():
                    out.setdefault((source, r.tracking_number), []).append(r)
        return out

    async def _handle(self, row: PushInbox) -> int:
        """Apply one claimed row and record how it went."""
        queued, exc = await self._try(row, await self._shipments([row]))
        if exc is None:
            await self._mark_applied([row.id])
        else:
            await self._failed(row, exc)
        return queued

    async def _mark_applied(self, ids: list[int]) -> None:
        async with self._writing, self.maker() as session, session.begin():
            await session.execute(
                update(PushInbox).where(PushInbox.id.in_(ids), PushInbox.lease_owner == self.owner)
                .values(state="applied", error=None, applied_at=self.clock.now(), lease_owner=None, leased_until=None)
                .execution_options(synchronize_session=False))

    async def _apply(self, row: PushInbox, shipments: dict) -> int:
        """The push's news through the same path as a poll result. Returns the notifications queued."""
        name = row.source
        rt, news = self._parse(row)
        now = self.clock.now()
        items, results, stopped = [], {}, []
        unmatched = ambiguous = 0
        for item in news.news:
            found = shipments.get((name, item.number), [])
            named = rt.carrier.carrier_of(item.carrier_code) if item.carrier_code and len(found) > 1 else None
            if named:
                found = [r for r in found if r.carrier in (named, AUTO)]
            if not found:
                unmatched += 1
                continue
            if len(found) > 1:
                ambiguous += 1
                log.warning("push from %s names %s, which %d shipments share; ignored", name, item.number,
                            len(found))
                continue
            if item.stopped:
                stopped.append(found[0].id)
            elif item.result is not None:
                items.append((found[0].id, item.number))
                results[item.number] = item.result
        if unmatched:
            self.counts[(name, "unmatched")] += unmatched
            await self._unmatched(name, unmatched, now)
        if ambiguous:
            self.counts[(name, "ambiguous")] += ambiguous
        if not items and not stopped:
            return 0
        queued = 0
        try:
            if items:
                queued = await self.poller.persist(name, items, results, event=news.event_id,
                                                   heard_at=row.received_at)  # freshness: when it arrived
            if stopped:
                await self._stopped(name, stopped, news.event_id if not items else news.event_id + "#stop", now)
        except DuplicateEvent:  # applied already (by a daemon that died before marking the row): not again
            self.counts[(name, "duplicate")] += 1
            return 0
        self.counts[(name, "applied")] += len(items) + len(stopped)
        return queued

    async def _done(self, row: PushInbox, state: str, error: str | None) -> None:
        now = self.clock.now()
        async with self._writing, self.maker() as session, session.begin():
            await session.execute(
                update(PushInbox).where(PushInbox.id == row.id, PushInbox.lease_owner == self.owner)
                .values(state=state, error=error, applied_at=now if state == "applied" else None,
                        lease_owner=None, leased_until=None)
                .execution_options(synchronize_session=False))

    async def _failed(self, row: PushInbox, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"[:500] if str(exc) else type(exc).__name__
        now = self.clock.now()
        if row.attempts >= self.cfg.max_attempts:
            log.error("push %s from %s could not be applied after %d attempts (%s); kept as failed, support "
                      "alerted", row.event_id[:64], row.source, row.attempts, reason)
            self.counts[(row.source, "failed")] += 1
            await self._done(row, "failed", reason)
            async with self._writing, self.maker() as session, session.begin():
                await alerts.raise_alert(
                    session, key=f"source:{row.source}:inbox", cause="push_failed", carrier=row.source, now=now,
                    message=f"{row.source}: a received push could not be applied ({reason[:200]}); it is kept in "
                            f"the push inbox as failed (event {row.event_id[:64]}).")
            return
        wait = backoff(row.attempts, self.cfg.backoff_base_seconds, self.cfg.backoff_max_seconds, self.rng)
        log.warning("push %s from %s could not be applied (%s); retried in %.0f s", row.event_id[:64], row.source,
                    reason, wait)
        async with self._writing, self.maker() as session, session.begin():
            await session.execute(
                update(PushInbox).where(PushInbox.id == row.id, PushInbox.lease_owner == self.owner)
                .values(error=reason, next_try_at=now + timedelta(seconds=wait), lease_owner=None,
                        leased_until=None)
                .execution_options(synchronize_session=False))

    async def _stopped(self, source: str, ids: list[int], event_id: str, now: datetime) -> None:
        """The source stopped tracking (17TRACK TRACKING_STOPPED): polling takes over now."""
        async with self._writing, self.maker() as session, session.begin():
            first = await session.execute(insert_ignore(self.engine, WebhookEvent.__table__, [dict(
                source=source, event_id=event_id[:128], received_at=now)], ["source", "event_id"]))
            if not first.rowcount:
                raise DuplicateEvent()
            await session.execute(update(SourceSubscription).where(
                SourceSubscription.shipment_id.in_(ids), SourceSubscription.source == source,
                SourceSubscription.state.in_(["active", "pending"]))
                .values(state="stopped", error="stopped by the source", next_try_at=None, updated_at=now))
            await session.execute(update(Shipment).where(Shipment.id.in_(ids), Shipment.next_check_at.is_not(None))
                                  .values(push_heard_at=None, next_check_at=now, updated_at=now))
        log.info("%s stopped tracking %d shipment(s); they are polled again", source, len(ids))

    async def _unmatched(self, source: str, n: int, now: datetime) -> None:
        async with self._writing, self.maker() as session, session.begin():
            await session.execute(insert_ignore(self.engine, SourceState.__table__, [dict(
                source=source, failures=0, pushes_unmatched=0, updated_at=now)], ["source"]))
            await session.execute(update(SourceState).where(SourceState.source == source).values(
                pushes_unmatched=SourceState.pushes_unmatched + n, updated_at=now))

    async def _prune(self, now: datetime) -> None:
        """Applied pushes are kept `keep_days` (their event ids stay in webhook_events for good)."""
        if self._pruned_at is not None and now - self._pruned_at < timedelta(minutes=10):
            return
        self._pruned_at = now
        async with self._writing, self.maker() as session, session.begin():
            await session.execute(delete(PushInbox).where(
                PushInbox.state == "applied", PushInbox.applied_at < now - timedelta(days=self.cfg.keep_days)))

    async def release_all(self) -> None:
        """At shutdown: rows this daemon claimed and did not finish go back at once."""
        async with self._writing, self.maker() as session, session.begin():
            await session.execute(update(PushInbox).where(PushInbox.lease_owner == self.owner,
                                                          PushInbox.state == "pending")
                                  .values(lease_owner=None, leased_until=None))
