"""Pushed tracking news: POST /webhooks/sources/{source} (17track, aftership, easypost, ups...).

Each request is checked by its source's own rule (17TRACK `sign`, AfterShip and EasyPost HMACs, the UPS
Track Alert credential) before anything is read; a refused one gets 401 and one log line naming why.
A verified, well-formed push is stored in the durable inbox and answered at once (tracker/inbox/):

    200 {"stored": true}       stored; applied behind, in order per shipment, by any daemon
    200 {"duplicate": true}    this event was received before (an honest retry): nothing to do
    503 + Retry-After          the database cannot store it right now: the source retries
    403                        older than the source's replay window (no documented retry is that late)

Outcomes are counted in /metrics (tracker_pushes_total{source,outcome}); what the drain finds (unmatched
numbers, ambiguous ones) is counted there too.
"""

from __future__ import annotations

import logging
from collections import Counter

from aiohttp import web

from tracker.inbox import store as inbox
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
        log.warning("push from %s refused: stale (sent %s, window %gs)", name, news.sent_at.isoformat(), window)
        _count(request, name, "replayed")
        return _error(403, "ts", "the webhook is older than the replay window", "send a fresh event")
    cfg = daemon.settings.sources.inbox
    key = news.news[0].number if news.news else news.event_id
    try:
        stored = await inbox.receive(daemon.engine, source=name, event_id=news.event_id, key=key, body=body,
                                     now=now, timeout=cfg.store_timeout_seconds)
    except inbox.NotStored as exc:
        log.warning("push from %s not stored (%s); answered 503, the source retries", name, exc)
        _count(request, name, "unavailable")
        return web.json_response({"error": {"field": "(database)", "problem": "the push could not be stored now",
                                            "fix": "retry later"}}, status=503,
                                 headers={"Retry-After": str(cfg.retry_after_seconds)})
    if not stored:
        _count(request, name, "duplicate")
        return _json(200, duplicate=True)
    _count(request, name, "stored")
    daemon.wake_inbox()
    return _json(200, stored=True)


def setup(app: web.Application) -> None:
    app[PUSHES] = Counter()
    app.router.add_post("/webhooks/sources/{source}", push)
