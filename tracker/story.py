"""Support's view of an order: the text `tracker status ORDER` prints."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select

from tracker import carrier_codes
from tracker.config import Settings
from tracker.conversations.support import thread as conversation_thread
from tracker.db import sessionmaker
from tracker.models import (
    Alert,
    CarrierState,
    Notification,
    Order,
    PreferenceChange,
    Rating,
    Shipment,
    TrackingEventRow,
)


async def order_story(engine, number: str, settings: Settings) -> str | None:
    tz = ZoneInfo(settings.shop.timezone)
    async with sessionmaker(engine)() as session:
        order = (await session.execute(select(Order).where(Order.number == number.strip()))).scalar_one_or_none()
        if order is None:
            return None
        ships = (await session.execute(
            select(Shipment).where(Shipment.order_id == order.id).order_by(Shipment.id))).scalars().all()
        ids = [s.id for s in ships]
        events = (await session.execute(
            select(TrackingEventRow).where(TrackingEventRow.shipment_id.in_(ids))
            .order_by(TrackingEventRow.occurred_at, TrackingEventRow.id))).scalars().all()
        notes = (await session.execute(
            select(Notification).where(or_(Notification.shipment_id.in_(ids), and_(
                Notification.order_id == order.id, Notification.shipment_id.is_(None))))
            .order_by(Notification.created_at, Notification.id))).scalars().all()
        ratings = {r.shipment_id: r for r in (await session.execute(
            select(Rating).where(Rating.shipment_id.in_(ids)))).scalars()}
        alerts = (await session.execute(
            select(Alert).where(or_(Alert.shipment_id.in_(ids), Alert.key == f"order:{order.id}:preparing",
                                    Alert.carrier.in_([s.source or s.carrier for s in ships]) & Alert.shipment_id.is_(None)))
            .order_by(Alert.created_at))).scalars().all()
        changes = (await session.execute(
            select(PreferenceChange).where(PreferenceChange.order_id == order.id)
            .order_by(PreferenceChange.created_at, PreferenceChange.id))).scalars().all()
        talk = await conversation_thread(session, order)
        paused = {c.carrier: c for c in (await session.execute(
            select(CarrierState).where(CarrierState.paused_reason.is_not(None)))).scalars()}

    def t(dt) -> str:
        return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if dt else "-"

    out = [f"Order {order.number}",
           (f"  customer: contact details erased {t(order.erased_at)} (privacy.erase_contact_after_days, or on "
            "request: tracker privacy requests); "
            if order.erased_at else f"  customer: email {order.email or '-'}, phone {order.phone or '-'}; ")
           + f"language {order.locale}; channels {order.channels}",
           f"  times in {settings.shop.timezone}"]
    if order.contact_problem:
        out.insert(2, f"  CONTACT PROBLEM: {order.contact_problem}")
    if order.cancelled_at:
        out.append(f"  CANCELLED by the shop {t(order.cancelled_at)}: its parcels are no longer tracked")
    order_notes = [n for n in notes if n.shipment_id is None]
    if not ships:
        out += ["", f"WAITING TO SHIP since {t(order.created_at)}: no parcel yet (add its tracking number once it ships)"]
    if order_notes:
        out.append("  Notifications about the order:")
        out += [_note_line(n, t) for n in order_notes]
    if changes:
        out.append("  Customer's choices:")
        out += [f"    {t(c.created_at)}  {c.source}: {c.change}" for c in changes]
    out += conversation_lines(talk, t)
    for i, ship in enumerate(ships, 1):
        out.append("")
        via = f" via {ship.source}" if ship.source and ship.source != ship.carrier else ""
        parcel = f"Parcel {i} of {len(ships)}: " if len(ships) > 1 else ""
        named = f" (the shop's {ship.carrier_name!r})" if ship.carrier_name else ""
        line = f"{parcel}Shipment {ship.carrier}{named}{via} {ship.tracking_number}: {ship.status.upper()}"
        if ship.status_at:
            line += f" since {t(ship.status_at)}"
        out.append(line)
        facts = []
        if ship.expected_delivery:
            facts.append(f"expected {ship.expected_delivery.isoformat()}")
        if ship.signed_by:
            facts.append(f"signed by {ship.signed_by}")
        if ship.pickup_location:
            facts.append(f"pickup at {ship.pickup_location}")
        if getattr(ship, "stopped_at", None):
            facts.append(f"TRACKING STOPPED {t(ship.stopped_at)} by {ship.stopped_by or 'someone'}")
        facts.append(f"next check {t(ship.next_check_at)}" if ship.next_check_at else "no further checks")
        if ship.last_error:
            facts.append(f"last problem: {ship.last_error}")
        if (ship.source or ship.carrier) in paused:
            facts.append(f"CARRIER PAUSED: {paused[ship.source or ship.carrier].paused_reason}")
        out.append("  " + "; ".join(facts))
        out.append(f"  customer page: {settings.server.public_url.rstrip('/')}/t/{ship.public_token}")
        if ship.tracking_url:
            out.append(f"  shop's tracking link: {ship.tracking_url}")
        if ship.id in ratings:
            r = ratings[ship.id]
            said = f': "{r.comment}"' if r.comment else " (no comment)"
            out.append(f"  Customer rating: {r.score}/5 on {t(r.created_at)}{said}")
        out.append("  Carrier timeline:")
        mine = [e for e in events if e.shipment_id == ship.id]
        if not mine:
            out.append("    (no events yet)")
        for e in mine:
            where = f" — {e.location}" if e.location else ""
            out.append(f"    {t(e.occurred_at)}  {e.status:<20} {e.raw_code:<6} {e.raw_text}{where}")
        out.append("  Notifications:")
        sent = [n for n in notes if n.shipment_id == ship.id]
        if not sent:
            out.append("    (none)")
        out += [_note_line(n, t) for n in sent]
    out.append("")
    out.append("Alerts:" if alerts else "Alerts: none")
    from tracker.alerts import delivery_state

    for a in alerts:
        ack = f" (acknowledged {t(a.acked_at)} by {a.acked_by})" if a.acked_at else " (open)"
        state = delivery_state(a, settings)
        out.append(f"  #{a.id} {t(a.created_at)} [{a.cause}] {a.message}{ack}{f'; {state}' if state else ''}")
    return "\n".join(out)


def conversation_lines(talk, t) -> list[str]:
    """The customer's messages and our answers, and their cases (tracker/conversations/)."""
    out = []
    if talk.messages:
        out.append("  Conversation:")
        for m in talk.messages:
            who = "customer" if m.direction == "in" else m.author
            state = f" [{talk.state_of(m)}]" if m.direction == "out" else f" ({m.kind})"
            text = " / ".join(m.body.split("\n"))[:200] if m.body else "(erased)" if m.direction == "in" else ""
            out.append(f"    {t(m.created_at)}  {talk.channel_of(m):<8} {who}: {text}{state}")
    for c in talk.cases:
        state = f"closed {t(c.closed_at)} by {c.closed_by}" if c.state == "closed" else "OPEN"
        out.append(f"  Case #{c.id} ({c.reason}) opened {t(c.opened_at)}: {state}")
    return out


def _note_line(n: Notification, t) -> str:
    extra = f"  {n.error}" if n.error else ""
    return (f"    #{n.id:<5} {n.milestone:<21} {n.channel:<6} {n.state:<10} attempts {n.attempts}  "
            f"{t(n.sent_at or n.updated_at)}{extra}")


async def carriers_story(engine, settings: Settings, now) -> str:
    """Per carrier: health, calls spent today against the daily budget, shipments being watched."""
    from sqlalchemy import func

    from tracker import routing
    from tracker.carrier_health import carrier_health
    from tracker.carriers import CARRIERS
    from tracker.source_health import source_health

    health = {h.carrier: h for h in await carrier_health(engine, list(settings.carriers))}
    tz = ZoneInfo(settings.shop.timezone)

    def t(dt) -> str:
        return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M")

    async with sessionmaker(engine)() as session:
        states = {c.carrier: c for c in (await session.execute(select(CarrierState))).scalars()}
        active = dict((await session.execute(
            select(Shipment.source, func.count()).where(Shipment.next_check_at.is_not(None))
            .group_by(Shipment.source))).all())
        due = dict((await session.execute(
            select(Shipment.source, func.min(Shipment.next_check_at)).where(Shipment.next_check_at <= now)
            .group_by(Shipment.source))).all())
    out = [f"{'carrier':<12} {'state':<8} {'calls today':>14} {'watched':>8} {'oldest due':>11}  notes"]
    for name, raw in settings.carriers.items():
        cls = CARRIERS[name]
        cfg = cls.Settings.model_validate(raw or {})
        budget = cfg.daily_budget or cls.daily_budget
        st = states.get(name)
        spent = st.calls_today if st and st.budget_day == now.date() else 0
        state = "off" if not cfg.enabled else health[name].state
        calls = f"{spent}/{budget}" if budget else f"{spent}"
        if budget:
            calls += f" {100 * spent / budget:.0f}%"
        oldest = due.get(name)
        lag = f"{(now - oldest).total_seconds():.0f} s" if oldest else "-"
        notes = health[name].summary(t) if cfg.enabled else ""
        out.append(f"{name:<12} {state:<8} {calls:>14} {active.get(name, 0):>8} {lag:>11}  {notes}")
    pushing = [n for n in settings.carriers if n in CARRIERS and routing.pushes(settings, n)]
    if pushing:
        out += ["", f"{'push source':<12} {'state':<8}  subscriptions, quota, trouble"]
        for h in await source_health(engine, pushing):
            out.append(f"{h.source:<12} {h.state:<8}  {h.summary}")
    out += carrier_codes.story_lines(await carrier_codes.listing(engine))
    return "\n".join(out)
