"""What tracker holds of a person, part by part: export it, erase it.

An erasure keeps the anonymous history (parcels, carrier events, which messages went out and when, rating
scores) for the shop's reports and removes what names or reaches the person: the order's email and phone,
the name of whoever signed for a parcel, the digest of each message's text and address, free-text rating
comments, the WhatsApp session of the phone. Opt-outs (suppressions) are kept on purpose: they are what
makes sure the person is not messaged again, and they are exported.

Parts run in the order of PARTS, the orders' own contact fields last, so a part may still read them.
To cover more data, add a Part to PARTS (conversations: what the person wrote and was answered).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tracker.models import (
    Notification,
    Order,
    PreferenceChange,
    Rating,
    Shipment,
    Suppression,
    TrackingEventRow,
    WhatsAppSession,
)


@dataclass(frozen=True)
class Subject:
    """Who a request is about: their orders and the addresses that reach them."""

    order_ids: tuple[int, ...]
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()


def _t(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


Export = Callable[[AsyncSession, Subject], Awaitable[Any]]
Erase = Callable[[AsyncSession, Subject, datetime], Awaitable[int]]


@dataclass(frozen=True)
class Part:
    name: str  # the key of its data in an export, and of its count in an erasure's result
    export: Export
    erase: Erase | None = None  # None: kept (said so in the answer)
    erased: str = ""  # what an erasure removes, for the answer
    kept: str = ""  # what it keeps


async def _export_orders(session: AsyncSession, who: Subject) -> list[dict]:
    if not who.order_ids:
        return []
    orders = (await session.execute(select(Order).where(Order.id.in_(who.order_ids)).order_by(Order.id))).scalars()
    ships = list((await session.execute(select(Shipment).where(Shipment.order_id.in_(who.order_ids))
                                        .order_by(Shipment.id))).scalars())
    events: dict[int, list] = {}
    for e in (await session.execute(select(TrackingEventRow).where(
            TrackingEventRow.shipment_id.in_([s.id for s in ships])).order_by(TrackingEventRow.occurred_at))).scalars():
        events.setdefault(e.shipment_id, []).append(e)
    notes: dict[int, list] = {}
    for n in (await session.execute(select(Notification).where(Notification.order_id.in_(who.order_ids))
                                    .order_by(Notification.id))).scalars():
        notes.setdefault(n.order_id, []).append(n)
    changes: dict[int, list] = {}
    for c in (await session.execute(select(PreferenceChange).where(PreferenceChange.order_id.in_(who.order_ids))
                                    .order_by(PreferenceChange.id))).scalars():
        changes.setdefault(c.order_id, []).append(c)
    ratings = {r.shipment_id: r for r in (await session.execute(
        select(Rating).where(Rating.order_id.in_(who.order_ids)))).scalars()}
    out = []
    for o in orders:
        mine = [s for s in ships if s.order_id == o.id]
        out.append({
            "order_number": o.number, "email": o.email, "phone": o.phone, "locale": o.locale,
            "timezone": o.timezone, "channels": o.channel_list, "registered_at": _t(o.created_at),
            "cancelled_at": _t(o.cancelled_at), "contact_erased_at": _t(o.erased_at), "status_page": o.status_url,
            "parcels": [{
                "carrier": s.carrier, "tracking_number": s.tracking_number, "status": s.status,
                "registered_at": _t(s.created_at), "delivered_at": _t(s.delivered_at), "signed_by": s.signed_by,
                "pickup_location": s.pickup_location,
                "events": [{"at": _t(e.occurred_at), "status": e.status, "text": e.raw_text, "location": e.location}
                           for e in events.get(s.id, [])],
                "rating": ({"score": ratings[s.id].score, "comment": ratings[s.id].comment,
                            "at": _t(ratings[s.id].created_at)} if s.id in ratings else None),
            } for s in mine],
            "messages": [{"about": n.milestone, "channel": n.channel, "state": n.state, "queued_at": _t(n.created_at),
                          "sent_at": _t(n.sent_at), "delivered_at": _t(n.delivered_at), "error": n.error}
                         for n in notes.get(o.id, [])],
            "preference_changes": [{"at": _t(c.created_at), "how": c.source, "change": c.change}
                                   for c in changes.get(o.id, [])],
        })
    return out


async def _erase_orders(session: AsyncSession, who: Subject, now: datetime) -> int:
    await session.execute(update(Order).where(Order.id.in_(who.order_ids))
                          .values(email=None, email_folded=None, phone=None, contact_problem=None, erased_at=now)
                          .execution_options(synchronize_session=False))
    return len(who.order_ids)


async def _erase_signers(session: AsyncSession, who: Subject, now: datetime) -> int:
    result = await session.execute(update(Shipment).where(Shipment.order_id.in_(who.order_ids),
                                                          Shipment.signed_by.is_not(None))
                                   .values(signed_by=None).execution_options(synchronize_session=False))
    return max(result.rowcount or 0, 0)


async def _erase_message_traces(session: AsyncSession, who: Subject, now: datetime) -> int:
    """The digest of each message's address and text goes (a message in a provider's hands keeps it until
    its outcome is known); messages still waiting will never go: they end as suppressed."""
    N = Notification
    result = await session.execute(update(N).where(N.order_id.in_(who.order_ids), N.state != "sending",
                                                   N.body_digest.is_not(None))
                                   .values(body_digest=None).execution_options(synchronize_session=False))
    await session.execute(update(N).where(N.order_id.in_(who.order_ids), N.state.in_(["queued", "deferred"]))
                          .values(state="suppressed", error="contact details erased", next_attempt_at=None,
                                  updated_at=now).execution_options(synchronize_session=False))
    return max(result.rowcount or 0, 0)


async def _erase_comments(session: AsyncSession, who: Subject, now: datetime) -> int:
    result = await session.execute(update(Rating).where(Rating.order_id.in_(who.order_ids), Rating.comment.is_not(None))
                                   .values(comment=None).execution_options(synchronize_session=False))
    return max(result.rowcount or 0, 0)


async def _phones(session: AsyncSession, who: Subject) -> list[str]:
    """The subject's phones: those given, and those on their orders (read before the orders part erases them)."""
    found = set(who.phones)
    if who.order_ids:
        found |= {p for (p,) in await session.execute(select(Order.phone).where(
            Order.id.in_(who.order_ids), Order.phone.is_not(None)))}
    return sorted(found)


async def _export_sessions(session: AsyncSession, who: Subject) -> list[dict]:
    phones = await _phones(session, who)
    return [{"phone": p, "last_message_at": _t(at)} for p, at in await session.execute(
        select(WhatsAppSession.phone, WhatsAppSession.last_inbound_at).where(WhatsAppSession.phone.in_(phones)))]


async def _erase_sessions(session: AsyncSession, who: Subject, now: datetime) -> int:
    phones = await _phones(session, who)
    result = await session.execute(delete(WhatsAppSession).where(WhatsAppSession.phone.in_(phones))
                                   .execution_options(synchronize_session=False))
    return max(result.rowcount or 0, 0)


async def _export_opt_outs(session: AsyncSession, who: Subject) -> list[dict]:
    addresses = await _addresses(session, who)
    rows = await session.execute(select(Suppression).where(or_(*[Suppression.address == a for a in addresses]))
                                 ) if addresses else []
    return [{"channel": s.channel, "address": s.address, "reason": s.reason, "at": _t(s.created_at)}
            for (s,) in rows]


async def _addresses(session: AsyncSession, who: Subject) -> set[str]:
    found = set(who.emails) | set(await _phones(session, who))
    if who.order_ids:
        found |= {e for (e,) in await session.execute(select(Order.email).where(
            Order.id.in_(who.order_ids), Order.email.is_not(None)))}
    return found


async def _export_conversations(session: AsyncSession, who: Subject) -> list[dict]:
    from tracker.conversations.support import export_conversations

    return await export_conversations(session, who.order_ids, await _addresses(session, who))


async def _erase_conversations(session: AsyncSession, who: Subject, now: datetime) -> int:
    from tracker.conversations.support import erase_conversations

    return await erase_conversations(session, who.order_ids, await _addresses(session, who), now)


PARTS: list[Part] = [
    Part("conversations", _export_conversations, _erase_conversations,
         erased="what the person wrote to us and what we answered, and the address they wrote from",
         kept="when messages came and went, and the cases they opened (without their text)"),
    Part("whatsapp_sessions", _export_sessions, _erase_sessions, erased="WhatsApp sessions"),
    Part("opt_outs", _export_opt_outs, None, kept="opt-outs (so the person is never messaged again)"),
    Part("message_traces", lambda s, w: _nothing(), _erase_message_traces, erased="message digests"),
    Part("rating_comments", lambda s, w: _nothing(), _erase_comments, erased="rating comments"),
    Part("signers", lambda s, w: _nothing(), _erase_signers, erased="names of who signed for a parcel"),
    Part("orders", _export_orders, _erase_orders, erased="orders' email and phone",
         kept="parcels, carrier events, which messages went out and when, rating scores (anonymous)"),
]


async def _nothing() -> None:
    return None


async def export(session: AsyncSession, who: Subject) -> dict[str, Any]:
    data = {}
    for part in PARTS:
        value = await part.export(session, who)
        if value is not None:
            data[part.name] = value
    return data


async def erase(session: AsyncSession, who: Subject, now: datetime) -> dict[str, int]:
    """Every part's erasure, in the caller's transaction; what each removed, counted."""
    return {part.name: await part.erase(session, who, now) for part in PARTS if part.erase is not None}
