"""Support's view of an order: the text `tracker status ORDER` prints."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import or_, select

from tracker.config import Settings
from tracker.db import sessionmaker
from tracker.models import Alert, CarrierState, Notification, Order, Shipment, TrackingEventRow


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
            select(Notification).where(Notification.shipment_id.in_(ids))
            .order_by(Notification.created_at, Notification.id))).scalars().all()
        alerts = (await session.execute(
            select(Alert).where(or_(Alert.shipment_id.in_(ids),
                                    Alert.carrier.in_([s.carrier for s in ships]) & Alert.shipment_id.is_(None)))
            .order_by(Alert.created_at))).scalars().all()
        paused = {c.carrier: c for c in (await session.execute(
            select(CarrierState).where(CarrierState.paused_reason.is_not(None)))).scalars()}

    def t(dt) -> str:
        return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if dt else "-"

    out = [f"Order {order.number}",
           f"  customer: email {order.email or '-'}, phone {order.phone or '-'}; language {order.locale}; "
           f"channels {order.channels}",
           f"  times in {settings.shop.timezone}"]
    for ship in ships:
        out.append("")
        line = f"Shipment {ship.carrier} {ship.tracking_number}: {ship.status.upper()}"
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
        if ship.carrier in paused:
            facts.append(f"CARRIER PAUSED: {paused[ship.carrier].paused_reason}")
        out.append("  " + "; ".join(facts))
        out.append(f"  customer page: {settings.server.public_url.rstrip('/')}/t/{ship.public_token}")
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
        for n in sent:
            when = t(n.sent_at or n.updated_at)
            extra = f"  {n.error}" if n.error else ""
            out.append(f"    #{n.id:<5} {n.milestone:<21} {n.channel:<6} {n.state:<10} attempts {n.attempts}  "
                       f"{when}{extra}")
    out.append("")
    out.append("Alerts:" if alerts else "Alerts: none")
    for a in alerts:
        ack = f" (acknowledged {t(a.acked_at)})" if a.acked_at else ""
        out.append(f"  #{a.id} {t(a.created_at)} [{a.cause}] {a.message}{ack}")
    return "\n".join(out)
