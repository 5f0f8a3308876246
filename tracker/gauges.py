"""The figures /metrics reads from the database, shared by every daemon on it: notifications by channel and
state, shipments by status, queue depths and the lag of the oldest due item, carrier budget use and
health, unknown carrier codes, push subscriptions, privacy requests. `collect()` is the one function that reads them and
returns plain values; the web layer keeps its last answer with its time, so /metrics answers during a
database outage with the last known values and their age. On a large database (`size()` past
`server.metrics_cache_above_rows`) the web layer reads them in the background at most every
`server.metrics_cache_seconds` and a scrape serves the last values with their age: a scrape never waits
on counting a million rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from tracker import carrier_codes, duplicates
from tracker.carrier_health import as_time, carrier_health
from tracker.conversations.figures import families as conversation_families
from tracker.db import sessionmaker
from tracker.inbox import store as inbox
from tracker.models import CarrierState, Notification, Order, Shipment
from tracker.privacy.requests import counts as privacy_counts
from tracker.source_health import STATES, source_health


@dataclass
class Family:
    """One metric: name, "gauge" or "counter", help text, and its samples (labels, value)."""

    name: str
    kind: str
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> None:
        self.samples.append((labels, float(value)))


async def size(engine) -> int:
    """How many shipments or notifications the database holds, about (the highest id: read from the end of
    the primary key, whatever the table's size)."""
    async with sessionmaker(engine)() as s:
        ships = (await s.execute(select(func.max(Shipment.id)))).scalar()
        notes = (await s.execute(select(func.max(Notification.id)))).scalar()
    return max(ships or 0, notes or 0)


async def collect(engine, *, carriers: list[str], budgets: dict[str, int], pushing: list[str],
                  now: datetime) -> list[Family]:
    """Every database-backed family, in the order /metrics shows them. `carriers`: the carriers this daemon
    runs (budgets: their daily budgets, where they have one); `pushing`: its push sources."""
    async with sessionmaker(engine)() as s:
        notes = (await s.execute(select(Notification.channel, Notification.state, func.count())
                                 .group_by(Notification.channel, Notification.state))).all()
        resent = dict((await s.execute(select(Notification.channel, func.sum(Notification.resent_in_doubt))
                                        .where(Notification.resent_in_doubt > 0)
                                        .group_by(Notification.channel))).all())
        seen_twice = await duplicates.counts(s)
        pushes = await inbox.gauges(s, now)
        ships = (await s.execute(select(Shipment.status, func.count()).group_by(Shipment.status))).all()
        due_checks, oldest_check = (await s.execute(
            select(func.count(), func.min(Shipment.next_check_at)).where(Shipment.next_check_at <= now))).one()
        tracked = (await s.execute(select(func.count()).where(Shipment.next_check_at.is_not(None)))).scalar_one()
        carrier_states = {c.carrier: c for c in (await s.execute(select(CarrierState))).scalars()}
        unknown_codes = await carrier_codes.totals(s)
        due_notes, oldest_note = (await s.execute(
            select(func.count(), func.min(Notification.next_attempt_at))
            .where(Notification.state.in_(["queued", "deferred"]), Notification.next_attempt_at <= now))).one()
        contact_problems = (await s.execute(  # ix_orders_contact_problem holds only these rows
            select(func.count(Order.id)).where(Order.contact_problem.is_not(None)))).scalar_one()
    health = await carrier_health(engine, sorted(carriers))
    sources = await source_health(engine, pushing)

    out = []
    f = Family("tracker_notifications", "gauge", "Notifications in the outbox, by channel and state.")
    for channel, state, n in sorted(notes):
        f.add(n, channel=channel, state=state)
    out.append(f)
    f = Family("tracker_notifications_resent_in_doubt", "gauge",
               "Messages sent again although an interrupted attempt may have reached the provider (it offers "
               "no lookup and sent no event): the possible duplicates.")
    for channel in sorted({"sms", "whatsapp", "email", *resent}):
        f.add(resent.get(channel, 0) or 0, channel=channel)
    out.append(f)
    f = Family("tracker_notifications_duplicates", "gauge",
               "Messages the customer got twice, seen afterwards (a second send outcome, status callback or "
               "event for one notification).")
    for channel in sorted({"sms", "whatsapp", "email", *seen_twice}):
        f.add(seen_twice.get(channel, 0), channel=channel)
    out.append(f)
    out.append(Family("tracker_push_inbox_depth", "gauge", "Pushes stored and not applied yet.",
                      [({}, pushes["depth"])]))
    out.append(Family("tracker_push_inbox_age_seconds", "gauge", "How long the oldest push not applied yet has "
                      "waited (0 when none).", [({}, pushes["age"])]))
    out.append(Family("tracker_push_inbox_failed", "gauge", "Pushes kept after they failed to apply "
                      "sources.inbox.max_attempts times (support is alerted).", [({}, pushes["failed"])]))
    f = Family("tracker_shipments", "gauge", "Shipments by status.")
    for status, n in sorted(ships):
        f.add(n, status=status)
    out.append(f)
    out.append(Family("tracker_shipments_tracked", "gauge", "Shipments still being checked.", [({}, tracked)]))
    out.append(Family("tracker_queue_depth", "gauge", "Work due now and not yet done.",
                      [({"queue": "checks"}, due_checks), ({"queue": "notifications"}, due_notes)]))
    oldest_check, oldest_note = as_time(oldest_check), as_time(oldest_note)  # SQLite's MIN() gives text
    out.append(Family("tracker_queue_lag_seconds", "gauge", "How long the oldest due item has been waiting.", [
        ({"queue": "checks"}, max(0.0, (now - oldest_check).total_seconds()) if oldest_check else 0),
        ({"queue": "notifications"}, max(0.0, (now - oldest_note).total_seconds()) if oldest_note else 0)]))
    f = Family("tracker_carrier_calls_today", "gauge", "Carrier calls spent today (UTC) by every daemon on this database.")
    for name in sorted(carriers):
        st = carrier_states.get(name)
        f.add(st.calls_today if st and st.budget_day == now.date() else 0, carrier=name)
    out.append(f)
    f = Family("tracker_carrier_daily_budget", "gauge", "Carrier calls allowed per day (absent: no budget).")
    for name in sorted(budgets):
        f.add(budgets[name], carrier=name)
    out.append(f)
    out.append(Family("tracker_carrier_paused", "gauge", "1 while a carrier is paused (credentials refused), "
                      "as every daemon on this database sees it.",
                      [({"carrier": h.carrier}, 1 if h.paused_reason else 0) for h in health]))
    out.append(Family("tracker_carrier_failing", "gauge", "1 while a carrier's calls keep failing (or it is paused).",
                      [({"carrier": h.carrier}, 1 if h.state != "ok" else 0) for h in health]))
    out.append(Family("tracker_carrier_failures", "gauge", "Failed calls to a carrier in a row, by every daemon.",
                      [({"carrier": h.carrier}, h.failures) for h in health]))
    out.append(Family("tracker_carrier_failing_seconds", "gauge", "How long a carrier has been failing (0: it is not).",
                      [({"carrier": h.carrier},
                        max(0.0, (now - h.failing_since).total_seconds()) if h.failing_since else 0) for h in health]))
    names = sorted(set(carriers) | set(unknown_codes))
    out.append(Family("tracker_unknown_carrier_codes_total", "counter",
                      "Scans with a status code tracker does not know, by carrier (every daemon on this database).",
                      [({"carrier": n}, unknown_codes.get(n, (0, 0))[0]) for n in names]))
    out.append(Family("tracker_unknown_carrier_code_kinds", "gauge", "Distinct unknown status codes seen, by carrier.",
                      [({"carrier": n}, unknown_codes.get(n, (0, 0))[1]) for n in names]))
    out.append(Family("tracker_source_subscriptions", "gauge", "Push subscriptions by source and state.",
                      [({"source": h.source, "state": st}, h.subscriptions.get(st, 0)) for h in sources for st in STATES]))
    out.append(Family("tracker_source_quota_remaining", "gauge", "Registrations left in the source's quota (absent: none).",
                      [({"source": h.source}, h.quota_remaining) for h in sources if h.quota_remaining is not None]))
    out.append(Family("tracker_source_failing", "gauge", "1 while a source's registrations keep failing.",
                      [({"source": h.source}, 1 if h.failing_since else 0) for h in sources]))
    out.append(Family("tracker_privacy_requests", "gauge", "Privacy requests recorded, by kind and state (to_answer: "
                      "a Shopify data request waiting for `tracker privacy export`).",
                      [({"kind": k, "state": st}, n) for (k, st), n in sorted((await privacy_counts(engine)).items())]))
    out.append(Family("tracker_orders_contact_problems", "gauge",
                      "Orders registered without a contact detail the shop sent (a phone in no plan of the "
                      "customer's country, a bad email): they hear by the other channel; support sees why.",
                      [({}, contact_problems)]))
    out += [Family(*f) for f in await conversation_families(engine)]
    return out
