"""Push subscriptions, worked like an outbox (`source_subscriptions`): every shipment whose source pushes
gets a row; due rows are claimed (a lease on `next_try_at`), batched per source (17TRACK 40, UPS Track
Alert 100 numbers a request) at the source's own rate limit (shared with the poller), and the outcome is
written back:

    pending   -> active      registered; the shipment's next poll becomes a safety check
    active    -> (renewed)   before it lapses (UPS: 14 days)
    active    -> stopping    the parcel is finished (written by persist());  -> stopped at the source
    pending   -> failed      refused for good (bad number, undetectable carrier): polling carries on

Request failures (429, 5xx, timeouts, bad credentials) are retried with backoff; a source failing
`sources.alert_after_failures` times in a row, or out of registration quota, raises one support alert.
The quota (17TRACK `/getquota`) is read every `sources.quota_check_hours` into `source_states`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
from sqlalchemy import and_, exists, or_, select, update

from tracker import alerts
from tracker.carriers.base import AuthFailed, CarrierError, RateLimited, Temporary
from tracker.carriers.catalog import AUTO
from tracker.clock import Clock
from tracker.config import Settings
from tracker.db import insert_ignore, sessionmaker, write_lock
from tracker.models import Shipment, SourceState, SourceSubscription
from tracker.poller import FINISHED, CarrierRuntime
from tracker.retry import backoff
from tracker.schedule import next_check_pushed

log = logging.getLogger("tracker.subscriber")

LEASE_SECONDS = 120
ENROL_BATCH = 2000
CLAIM_BATCH = 2000


@dataclass
class SubscribeStats:
    enrolled: int = 0
    subscribed: int = 0
    refused: int = 0
    stopped: int = 0
    failed_calls: int = 0
    calls: int = 0


class Subscriber:
    def __init__(self, *, engine, settings: Settings, sources: dict[str, CarrierRuntime], clock: Clock,
                 rng: random.Random | None = None) -> None:
        self.engine = engine
        self.maker = sessionmaker(engine)
        self.settings = settings
        self.cfg = settings.sources
        self.sources = {name: rt for name, rt in sources.items() if rt.carrier.pushes}
        self.clock = clock
        self.rng = rng or random.Random()
        self.stopping = False
        self._lock = asyncio.Lock()
        self._writing = write_lock(engine)

    async def tick(self) -> SubscribeStats:
        stats = SubscribeStats()
        if self.stopping or not self.sources:
            return stats
        async with self._lock:
            now = self.clock.now()
            stats.enrolled = await self.enrol(now)
            await self.read_quotas(now)
            claimed = await self.claim(now)
            batches = []
            for (source, action), rows in claimed.items():
                size = self.sources[source].carrier.subscribe_batch if action == "subscribe" else 40
                batches += [(source, action, rows[i:i + size]) for i in range(0, len(rows), size)]
            # one worker per source, so each source's requests go out one after another at its own pace
            by_source: dict[str, list] = defaultdict(list)
            for b in batches:
                by_source[b[0]].append(b)
            await asyncio.gather(*(self._run_source(items, stats) for items in by_source.values()))
        return stats

    async def _run_source(self, batches: list, stats: SubscribeStats) -> None:
        for source, action, rows in batches:
            until = self.sources[source].cooldown_until
            if self.stopping:
                await self._give_back([r.id for r in rows])
                continue
            if until is not None and until > self.clock.now():  # the source said "not before": nothing until then
                await self._give_back([r.id for r in rows], at=until)
                continue
            await self._run(source, action, rows, stats)

    # --- enrol and claim -----------------------------------------------------------------------
    async def enrol(self, now: datetime) -> int:
        """A subscription row for each unfinished shipment of a pushing source that has none yet."""
        S, Sub = Shipment, SourceSubscription
        async with self._writing, self.maker() as session, session.begin():
            rows = (await session.execute(
                select(S.id, S.source, S.tracking_number, S.carrier)
                .where(S.source.in_(list(self.sources)), S.status.not_in(list(FINISHED)), S.stopped_at.is_(None),
                       ~exists().where(and_(Sub.shipment_id == S.id, Sub.source == S.source)))
                .limit(ENROL_BATCH))).all()
            if not rows:
                return 0
            await session.execute(insert_ignore(self.engine, Sub.__table__, [dict(
                shipment_id=sid, source=source, tracking_number=number, carrier=carrier, state="pending",
                attempts=0, next_try_at=now, created_at=now, updated_at=now)
                for sid, source, number, carrier in rows], ["shipment_id", "source"]))
        return len(rows)

    async def claim(self, now: datetime) -> dict[tuple[str, str], list]:
        Sub = SourceSubscription
        renew_by = now + timedelta(hours=self.cfg.renew_before_hours)
        blocked = await self._blocked(now)
        due = (select(Sub.id)
               .where(Sub.source.in_([s for s in self.sources if s not in blocked]) if blocked else
                      Sub.source.in_(list(self.sources)),
                      or_(and_(Sub.state.in_(["pending", "stopping"]), Sub.next_try_at <= now),
                          and_(Sub.state == "active", Sub.expires_at.is_not(None), Sub.expires_at <= renew_by,
                               or_(Sub.next_try_at.is_(None), Sub.next_try_at <= now))))
               .order_by(Sub.next_try_at).limit(CLAIM_BATCH).with_for_update(skip_locked=True))
        async with self._writing, self.maker() as session, session.begin():
            rows = (await session.execute(
                update(Sub).where(Sub.id.in_(due.scalar_subquery()))
                .values(next_try_at=now + timedelta(seconds=LEASE_SECONDS))
                .returning(Sub.id, Sub.source, Sub.state, Sub.tracking_number, Sub.carrier, Sub.shipment_id,
                           Sub.attempts)
                .execution_options(synchronize_session=False))).all()
        out: dict[tuple[str, str], list] = defaultdict(list)
        for row in rows:
            out[(row.source, "stop" if row.state == "stopping" else "subscribe")].append(row)
        return out

    async def _give_back(self, ids: list[int], at: datetime | None = None) -> None:
        async with self._writing, self.maker() as session, session.begin():
            await session.execute(update(SourceSubscription).where(SourceSubscription.id.in_(ids))
                                  .values(next_try_at=at or self.clock.now())
                                  .execution_options(synchronize_session=False))

    # --- quota ---------------------------------------------------------------------------------
    async def _blocked(self, now: datetime) -> set[str]:
        """Sources not to call now: out of quota, or cooling down after a Retry-After (told to this daemon
        or, through source_states, to any other)."""
        async with self.maker() as session:
            rows = (await session.execute(select(SourceState.source, SourceState.quota_remaining,
                                                 SourceState.cooldown_until))).all()
        out = set()
        for source, remaining, until in rows:
            if remaining is not None and remaining <= 0:
                out.add(source)
            rt = self.sources.get(source)
            if rt is not None and until is not None and until > now and (
                    rt.cooldown_until is None or rt.cooldown_until < until):
                rt.cooldown_until = until
        return out | {n for n, rt in self.sources.items() if rt.cooldown_until is not None and rt.cooldown_until > now}

    async def _cool(self, source: str, seconds: float, now: datetime) -> None:
        """A Retry-After (429, quota, 503) holds every request to this source, by every daemon, that long."""
        until = now + timedelta(seconds=seconds)
        rt = self.sources[source]
        if rt.cooldown_until is None or rt.cooldown_until < until:
            rt.cooldown_until = until
            await self._state(source, now, cooldown_until=until)
            log.info("source %s asked to wait %g s; no request to it before %s", source, seconds,
                     until.isoformat(timespec="seconds"))

    async def read_quotas(self, now: datetime) -> None:
        stale = now - timedelta(hours=self.cfg.quota_check_hours)
        async with self.maker() as session:
            states = {s.source: s for s in (await session.execute(select(SourceState))).scalars()}
        for name, rt in self.sources.items():
            st = states.get(name)
            if st is not None and st.quota_checked_at is not None and st.quota_checked_at > stale:
                continue
            if rt.cooldown_until is not None and rt.cooldown_until > now:
                continue  # read it once the source's cool-down is over
            try:
                await self._pace(rt)
                quota = await rt.carrier.quota()
            except (CarrierError, asyncio.TimeoutError, aiohttp.ClientError) as exc:
                log.warning("source %s: reading the quota failed: %s", name, exc)
                await self._state(name, now, checked=True)
                continue
            if quota is None:
                await self._state(name, now, checked=True)
                continue
            await self._state(name, now, quota_remaining=quota.remaining, quota_total=quota.total, checked=True)
            if quota.remaining is not None and quota.remaining <= 0:
                async with self._writing, self.maker() as session, session.begin():
                    await alerts.raise_alert(
                        session, key=f"source:{name}:quota", cause="source_quota", carrier=name, now=now,
                        message=f"{name}: the registration quota is used up ({quota.total or '?'} numbers); new "
                                f"shipments wait to be registered and are polled as a safety check only. "
                                f"Buy more quota at {rt.carrier.display_name}.")

    async def _state(self, name: str, now: datetime, *, checked: bool = False, **values) -> None:
        async with self._writing, self.maker() as session, session.begin():
            await session.execute(insert_ignore(self.engine, SourceState.__table__, [dict(
                source=name, failures=0, pushes_unmatched=0, updated_at=now)], ["source"]))
            if checked:
                values["quota_checked_at"] = now
            await session.execute(update(SourceState).where(SourceState.source == name)
                                  .values(updated_at=now, **values))

    # --- run -----------------------------------------------------------------------------------
    async def _pace(self, rt: CarrierRuntime) -> None:
        """Wait for the source's next request slot (shared with the poller and every other daemon)."""
        await rt.limiter.acquire(float("inf"))

    async def _run(self, source: str, action: str, rows: list, stats: SubscribeStats) -> None:
        rt = self.sources[source]
        await self._pace(rt)
        now = self.clock.now()
        stats.calls += 1
        try:
            if action == "stop":
                await asyncio.wait_for(rt.carrier.unsubscribe([r.tracking_number for r in rows]),
                                       rt.carrier.settings.timeout_seconds + 5)
                answers: dict[str, str | CarrierError] = {r.tracking_number: "" for r in rows}
            else:
                answers = await asyncio.wait_for(
                    rt.carrier.subscribe([(r.tracking_number, None if r.carrier == AUTO else r.carrier)
                                          for r in rows]), rt.carrier.settings.timeout_seconds + 5)
        except (CarrierError, asyncio.TimeoutError, aiohttp.ClientError, ValueError) as exc:
            stats.failed_calls += 1
            await self._failed(source, action, rows, exc, now)
            return
        except Exception as exc:  # a bug in a source module must not stop the daemon
            log.exception("source %s crashed while subscribing %d numbers", source, len(rows))
            stats.failed_calls += 1
            await self._failed(source, action, rows, exc, now)
            return
        await self._done(source, action, rows, answers, now, stats)

    async def _failed(self, source: str, action: str, rows: list, exc: BaseException, now: datetime) -> None:
        rt = self.sources[source]
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        async with self.maker() as session:
            st = await session.get(SourceState, source)
            failures = (st.failures if st else 0) + 1
            since = (st.failing_since if st and st.failing_since else now)
        if failures == 1:
            log.warning("source %s: %s failed: %s", source, "registration" if action == "subscribe" else "stop",
                        reason)
        await self._state(source, now, failures=failures, failing_since=since, last_error=reason[:500])
        if getattr(exc, "retry_after", None):
            await self._cool(source, exc.retry_after, now)
        async with self._writing, self.maker() as session, session.begin():
            for r in rows:
                wait = getattr(exc, "retry_after", None) or backoff(
                    r.attempts + 1, self.cfg.backoff_base_seconds, self.cfg.backoff_max_seconds, self.rng)
                await session.execute(update(SourceSubscription).where(SourceSubscription.id == r.id).values(
                    attempts=r.attempts + 1, error=reason[:500], next_try_at=now + timedelta(seconds=wait),
                    updated_at=now))
            if failures >= self.cfg.alert_after_failures or isinstance(exc, AuthFailed):
                await alerts.raise_alert(
                    session, key=f"source:{source}:subscribe", cause="source_failing", carrier=source, now=now,
                    message=f"{source}: push registrations keep failing ({reason[:200]}); they are retried, and "
                            f"the shipments are polled meanwhile. Check carriers.{source} in config.yaml.")

    async def _done(self, source: str, action: str, rows: list, answers: dict[str, str | CarrierError],
                    now: datetime, stats: SubscribeStats) -> None:
        rt = self.sources[source]
        Sub, S = SourceSubscription, Shipment
        days = rt.carrier.subscription_days
        refused: list[tuple] = []
        accepted = 0
        cool = 0.0
        async with self._writing, self.maker() as session, session.begin():
            for r in rows:
                answer = answers.get(r.tracking_number)
                if action == "stop":
                    await session.execute(update(Sub).where(Sub.id == r.id).values(
                        state="stopped", next_try_at=None, error=None, updated_at=now))
                    stats.stopped += 1
                    continue
                if isinstance(answer, (Temporary, RateLimited)):  # e.g. out of quota: try again later
                    cool = max(cool, answer.retry_after or 0)
                    wait = answer.retry_after or backoff(r.attempts + 1, self.cfg.backoff_base_seconds,
                                                         self.cfg.backoff_max_seconds, self.rng)
                    await session.execute(update(Sub).where(Sub.id == r.id).values(
                        attempts=r.attempts + 1, error=str(answer)[:500], next_try_at=now + timedelta(seconds=wait),
                        updated_at=now))
                    continue
                if isinstance(answer, CarrierError) or answer is None:
                    refused.append((r, str(answer) if answer is not None else f"{source} did not answer for it"))
                    continue
                await session.execute(update(Sub).where(Sub.id == r.id).values(
                    state="active", carrier_code=answer or None, attempts=0, error=None, subscribed_at=now,
                    expires_at=now + timedelta(days=days) if days else None,
                    next_try_at=None, updated_at=now))
                ship = (await session.execute(select(S.status, S.carrier).where(S.id == r.shipment_id))).one()
                values: dict = {"push_heard_at": now, "updated_at": now,
                                "next_check_at": next_check_pushed(ship.status, now, now,
                                                                   self.cfg.push_quiet_hours, None)}
                named = rt.carrier.carrier_of(answer) if answer and ship.carrier == AUTO else None
                if named and not (await session.execute(select(S.id).where(
                        S.carrier == named, S.tracking_number == r.tracking_number))).first():
                    values["carrier"] = named  # the aggregator recognised the carrier
                await session.execute(update(S).where(S.id == r.shipment_id, S.stopped_at.is_(None),
                                                      S.status.not_in(list(FINISHED))).values(**values))
                stats.subscribed += 1
                accepted += 1
            for r, reason in refused:
                stats.refused += 1
                await session.execute(update(Sub).where(Sub.id == r.id).values(
                    state="failed", error=reason[:500], attempts=r.attempts + 1, next_try_at=None, updated_at=now))
                # no pushes will come: polling takes over now
                await session.execute(update(S).where(S.id == r.shipment_id, S.status.not_in(list(FINISHED)),
                                                      S.stopped_at.is_(None)).values(next_check_at=now))
                await alerts.raise_alert(
                    session, key=f"shipment:{r.shipment_id}:push", cause="push_refused", shipment_id=r.shipment_id,
                    carrier=source, now=now,
                    message=f"{source} refused to track {r.tracking_number} ({reason[:200]}); it is polled instead.")
            st = await session.get(SourceState, source)
            if st is not None and (st.failures or (st.quota_remaining is not None and action == "subscribe")):
                if st.failures:
                    log.info("source %s: registrations work again after %d failures", source, st.failures)
                st.failures, st.failing_since, st.last_error, st.updated_at = 0, None, None, now
                if st.quota_remaining is not None and action == "subscribe":
                    st.quota_remaining = max(0, st.quota_remaining - accepted)
        if cool:
            await self._cool(source, cool, now)
