"""Operations endpoints: /metrics (Prometheus text format) and /readyz.

/metrics: polls by carrier and outcome (this process, since start), notifications by channel and state,
queue depths (shipments due for a check, notifications due), the lag of the oldest due check and
the oldest due notification, and unknown carrier status codes per carrier. /readyz answers 200 once the
database answers and its schema is current, 503 otherwise (and while the daemon stops).
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import func, select

from tracker import carrier_codes
from tracker.carrier_health import as_time as _as_time
from tracker.carrier_health import carrier_health
from tracker.db import current_revision, head_revision, sessionmaker
from tracker.models import CarrierState, Notification, Shipment
from tracker.source_health import STATES, source_health
from tracker.web.common import DAEMON
from tracker.web.pushes import PUSHES

CONTENT_TYPE = "text/plain"


def _esc(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_: str) -> None:
        self.lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]

    def sample(self, name: str, value: float, **labels: str) -> None:
        lab = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
        self.lines.append(f"{name}{{{lab}}} {value:g}" if lab else f"{name} {value:g}")


async def metrics(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    now = daemon.clock.now()
    out = _Out()
    out.family("tracker_polls_total", "counter", "Shipment checks by this process, by carrier and outcome.")
    polls = getattr(getattr(daemon, "poller", None), "polls", {})
    for carrier in sorted(getattr(daemon, "carriers", {})):
        if not any(c == carrier for c, _ in polls):
            out.sample("tracker_polls_total", 0, carrier=carrier, outcome="ok")
    for (carrier, outcome), n in sorted(polls.items()):
        out.sample("tracker_polls_total", n, carrier=carrier, outcome=outcome)
    async with sessionmaker(daemon.engine)() as s:
        notes = (await s.execute(select(Notification.channel, Notification.state, func.count())
                                 .group_by(Notification.channel, Notification.state))).all()
        resent = dict((await s.execute(select(Notification.channel, func.sum(Notification.resent_in_doubt))
                                        .where(Notification.resent_in_doubt > 0)
                                        .group_by(Notification.channel))).all())
        ships = (await s.execute(select(Shipment.status, func.count()).group_by(Shipment.status))).all()
        due_checks, oldest_check = (await s.execute(
            select(func.count(), func.min(Shipment.next_check_at)).where(Shipment.next_check_at <= now))).one()
        tracked = (await s.execute(select(func.count()).where(Shipment.next_check_at.is_not(None)))).scalar_one()
        carrier_states = {c.carrier: c for c in (await s.execute(select(CarrierState))).scalars()}
        unknown_codes = await carrier_codes.totals(s)
        due_notes, oldest_note = (await s.execute(
            select(func.count(), func.min(Notification.next_attempt_at))
            .where(Notification.state.in_(["queued", "deferred"]), Notification.next_attempt_at <= now))).one()
    out.family("tracker_notifications", "gauge", "Notifications in the outbox, by channel and state.")
    for channel, state, n in sorted(notes):
        out.sample("tracker_notifications", n, channel=channel, state=state)
    out.family("tracker_notifications_resent_in_doubt", "gauge",
               "Messages sent again although an interrupted attempt may have reached the provider (it offers "
               "no lookup and sent no event): the possible duplicates.")
    for channel in sorted({"sms", "email", *resent}):
        out.sample("tracker_notifications_resent_in_doubt", resent.get(channel, 0), channel=channel)
    out.family("tracker_shipments", "gauge", "Shipments by status.")
    for status, n in sorted(ships):
        out.sample("tracker_shipments", n, status=status)
    out.family("tracker_shipments_tracked", "gauge", "Shipments still being checked.")
    out.sample("tracker_shipments_tracked", tracked)
    out.family("tracker_queue_depth", "gauge", "Work due now and not yet done.")
    out.sample("tracker_queue_depth", due_checks, queue="checks")
    out.sample("tracker_queue_depth", due_notes, queue="notifications")
    out.family("tracker_queue_lag_seconds", "gauge", "How long the oldest due item has been waiting.")
    # SQLite's MIN() returns the stored text: read it back through the column type.
    oldest_check = _as_time(oldest_check)
    oldest_note = _as_time(oldest_note)
    out.sample("tracker_queue_lag_seconds", max(0.0, (now - oldest_check).total_seconds()) if oldest_check else 0,
               queue="checks")
    out.sample("tracker_queue_lag_seconds", max(0.0, (now - oldest_note).total_seconds()) if oldest_note else 0,
               queue="notifications")
    runtimes = getattr(daemon, "carriers", {})
    out.family("tracker_carrier_calls_today", "gauge", "Carrier calls spent today (UTC) by every daemon on this database.")
    for name in sorted(runtimes):
        st = carrier_states.get(name)
        out.sample("tracker_carrier_calls_today", st.calls_today if st and st.budget_day == now.date() else 0,
                   carrier=name)
    out.family("tracker_carrier_daily_budget", "gauge", "Carrier calls allowed per day (absent: no budget).")
    for name, rt in sorted(runtimes.items()):
        if rt.budget is not None:
            out.sample("tracker_carrier_daily_budget", rt.budget, carrier=name)
    health = await carrier_health(daemon.engine, sorted(runtimes))
    out.family("tracker_carrier_paused", "gauge", "1 while a carrier is paused (credentials refused), "
               "as every daemon on this database sees it.")
    for h in health:
        out.sample("tracker_carrier_paused", 1 if h.paused_reason else 0, carrier=h.carrier)
    out.family("tracker_carrier_failing", "gauge", "1 while a carrier's calls keep failing (or it is paused).")
    for h in health:
        out.sample("tracker_carrier_failing", 1 if h.state != "ok" else 0, carrier=h.carrier)
    out.family("tracker_carrier_failures", "gauge", "Failed calls to a carrier in a row, by every daemon.")
    for h in health:
        out.sample("tracker_carrier_failures", h.failures, carrier=h.carrier)
    out.family("tracker_carrier_failing_seconds", "gauge", "How long a carrier has been failing (0: it is not).")
    for h in health:
        out.sample("tracker_carrier_failing_seconds",
                   max(0.0, (now - h.failing_since).total_seconds()) if h.failing_since else 0, carrier=h.carrier)
    out.family("tracker_unknown_carrier_codes_total", "counter",
               "Scans with a status code tracker does not know, by carrier (every daemon on this database).")
    for name in sorted(set(runtimes) | set(unknown_codes)):
        out.sample("tracker_unknown_carrier_codes_total", unknown_codes.get(name, (0, 0))[0], carrier=name)
    out.family("tracker_unknown_carrier_code_kinds", "gauge", "Distinct unknown status codes seen, by carrier.")
    for name in sorted(set(runtimes) | set(unknown_codes)):
        out.sample("tracker_unknown_carrier_code_kinds", unknown_codes.get(name, (0, 0))[1], carrier=name)
    await _sources(request, out)
    cap = getattr(daemon, "connections", None)
    if cap is not None:
        out.family("tracker_http_connections_open", "gauge", "Connections open to this process's web server.")
        out.sample("tracker_http_connections_open", len(cap.server.connections))
        out.family("tracker_http_connections_refused_total", "counter",
                   "Connections refused (503) by this process because server.max_connections were open.")
        out.sample("tracker_http_connections_refused_total", cap.refused)
    return web.Response(text="\n".join(out.lines) + "\n", content_type=CONTENT_TYPE,
                        headers={"Cache-Control": "no-store"})


async def _sources(request: web.Request, out: _Out) -> None:
    daemon = request.app[DAEMON]
    pushing = sorted(n for n, rt in getattr(daemon, "carriers", {}).items() if rt.carrier.pushes)
    out.family("tracker_pushes_total", "counter", "Pushed webhooks received by this process, by source and outcome "
               "(applied, unmatched, refused, replayed, malformed, ambiguous, too_large).")
    counts = request.app[PUSHES]
    for name in pushing:
        if not any(s == name for s, _ in counts):
            out.sample("tracker_pushes_total", 0, source=name, outcome="applied")
    for (name, outcome), n in sorted(counts.items()):
        out.sample("tracker_pushes_total", n, source=name, outcome=outcome)
    health = await source_health(daemon.engine, pushing)
    out.family("tracker_source_subscriptions", "gauge", "Push subscriptions by source and state.")
    for h in health:
        for state in STATES:
            out.sample("tracker_source_subscriptions", h.subscriptions.get(state, 0), source=h.source, state=state)
    out.family("tracker_source_quota_remaining", "gauge", "Registrations left in the source's quota (absent: none).")
    for h in health:
        if h.quota_remaining is not None:
            out.sample("tracker_source_quota_remaining", h.quota_remaining, source=h.source)
    out.family("tracker_source_failing", "gauge", "1 while a source's registrations keep failing.")
    for h in health:
        out.sample("tracker_source_failing", 1 if h.failing_since else 0, source=h.source)


async def readyz(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    if getattr(daemon, "_closing", False):
        return web.json_response({"status": "stopping"}, status=503)
    try:
        current = await current_revision(daemon.engine)
    except Exception as exc:  # the probe answers whatever the database does
        return web.json_response({"status": "error", "database": type(exc).__name__}, status=503)
    head = head_revision()
    if current != head:
        return web.json_response({"status": "error", "schema": current, "expected": head,
                                  "fix": "run `tracker db upgrade`"}, status=503)
    return web.json_response({"status": "ready", "schema": current})


def setup(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/readyz", readyz)
