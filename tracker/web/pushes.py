"""Pushed tracking news: POST /webhooks/sources/{source} (17track, aftership, easypost, ups...).

Each request is checked by its source's own rule (17TRACK `sign`, AfterShip and EasyPost HMACs, the UPS
Track Alert credential) before anything is read; a refused one gets 401 and one log line naming why.
A verified push is matched to our shipments of that source by number, and its news goes through the
poller's persist(): the same apply() and the same one transaction as a poll result, with the event id
recorded in that transaction. An event seen before (a replay) or older than the source's replay window
gets 403 and changes nothing. A number nobody registered gets 200 (so the source does not retry it for
ever), is ignored and counted in /metrics (tracker_pushes_total{outcome="unmatched"}); so is a push for a
shipment whose tracking support stopped (no more news about it).
"""

from __future__ import annotations

import logging
from collections import Counter

from aiohttp import web
from sqlalchemy import select, update

from tracker.carriers.catalog import AUTO
from tracker.db import insert_ignore, sessionmaker
from tracker.models import Shipment, SourceState, SourceSubscription, WebhookEvent
from tracker.poller import DuplicateEvent
from tracker.web.common import DAEMON
from tracker.web.intake import _error, _json, _read_body

log = logging.getLogger("tracker.push")

PUSHES = web.AppKey("pushes", Counter)  # (source, outcome) -> count, for /metrics


def _count(request: web.Request, source: str, outcome: str, n: int = 1) -> None:
    request.app[PUSHES][(source, outcome)] += n


async def push(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    name = request.match_info["source"].lower()
    rt = getattr(daemon, "carriers", {}).get(name)
    if rt is None or not rt.carrier.pushes:
        return _error(404, "source", f"{name[:32]!r} is not a configured push source",
                      "configure it under carriers: (with push enabled) and point its webhook here")
    body = await _read_body(request)
    if body is None:
        _count(request, name, "too_large")
        return _error(413, "(body)", "the body is too large", "raise api.max_body_bytes")
    reason = rt.carrier.verify(request.headers, body)
    if reason:
        log.warning("push from %s refused: %s", name, reason)
        _count(request, name, "refused")
        return _error(401, "signature", reason, f"use the secret configured under carriers.{name}")
    try:
        news = rt.carrier.parse_push(body)
    except ValueError as exc:
        log.warning("push from %s refused: %s", name, exc)
        _count(request, name, "malformed")
        return _error(400, "(body)", str(exc), "send the source's documented webhook body")
    now = daemon.clock.now()
    window = getattr(rt.carrier.settings, "replay_window_seconds", None)
    if window and news.sent_at is not None and abs((now - news.sent_at).total_seconds()) > window:
        log.warning("push from %s refused: replayed or stale (sent %s, window %gs)", name, news.sent_at.isoformat(),
                    window)
        _count(request, name, "replayed")
        return _error(403, "ts", "the webhook is older than the replay window", "send a fresh event")

    items, results, stopped = [], {}, []
    unmatched = ambiguous = 0
    async with sessionmaker(daemon.engine)() as session:
        for item in news.news:
            rows = (await session.execute(
                select(Shipment.id, Shipment.carrier).where(Shipment.source == name,
                                                            Shipment.tracking_number == item.number,
                                                            Shipment.stopped_at.is_(None)))).all()
            named = rt.carrier.carrier_of(item.carrier_code) if item.carrier_code and len(rows) > 1 else None
            if named:
                rows = [r for r in rows if r.carrier in (named, AUTO)]
            if not rows:
                unmatched += 1
                continue
            if len(rows) > 1:
                ambiguous += 1
                log.warning("push from %s names %s, which %d shipments share; ignored", name, item.number, len(rows))
                continue
            if item.stopped:
                stopped.append(rows[0].id)
            elif item.result is not None:
                items.append((rows[0].id, item.number))
                results[item.number] = item.result
    if unmatched:
        _count(request, name, "unmatched", unmatched)
        await _unmatched(daemon, name, unmatched, now)
    if ambiguous:
        _count(request, name, "ambiguous", ambiguous)
    if not items and not stopped:
        return _json(200, applied=0, ignored=unmatched + ambiguous)
    try:
        queued = 0
        if items:
            queued = await daemon.poller.persist(name, items, results, event=news.event_id)
        if stopped:
            await _stopped(daemon, name, stopped, news.event_id if not items else news.event_id + "#stop", now)
    except DuplicateEvent:
        log.warning("push from %s refused: replayed (event %s already applied)", name, news.event_id[:64])
        _count(request, name, "replayed")
        return _error(403, "event_id", "this event was already received", "nothing to do: it was applied once")
    _count(request, name, "applied", len(items) + len(stopped))
    if queued:
        daemon.wake_dispatcher()
    return _json(200, applied=len(items) + len(stopped), queued=queued)


async def _stopped(daemon, source: str, ids: list[int], event_id: str, now) -> None:
    """The source stopped tracking (17TRACK TRACKING_STOPPED): polling takes over now."""
    async with sessionmaker(daemon.engine)() as session, session.begin():
        first = await session.execute(insert_ignore(daemon.engine, WebhookEvent.__table__, [dict(
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


async def _unmatched(daemon, source: str, n: int, now) -> None:
    async with sessionmaker(daemon.engine)() as session, session.begin():
        await session.execute(insert_ignore(daemon.engine, SourceState.__table__, [dict(
            source=source, failures=0, pushes_unmatched=0, updated_at=now)], ["source"]))
        await session.execute(update(SourceState).where(SourceState.source == source).values(
            pushes_unmatched=SourceState.pushes_unmatched + n, updated_at=now))


def setup(app: web.Application) -> None:
    app[PUSHES] = Counter()
    app.router.add_post("/webhooks/sources/{source}", push)

