"""Cases: what a person must answer. Opened from a customer's message (inbound.py) or a page's "report a
problem" (`open_case`), one support alert each, listed by age in the console, closed by support."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tracker.alerts import raise_alert
from tracker.db import sessionmaker
from tracker.models import Case, Conversation, Order, Shipment

log = logging.getLogger("tracker.conversations")

REASONS = {
    "not_received": "says the parcel did not arrive although the carrier reports it delivered",
    "damaged": "says the parcel arrived damaged",
    "wrong_item": "says the wrong item came",
    "cancel": "asks to cancel or return",
    "address_change": "asks to change the delivery address",
    "human": "asks for a person",
    "unknown": "wrote something tracker did not understand",
    "problem": "reported a problem on the tracking page",
}


class CaseError(ValueError):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field, self.problem = field, problem


async def open_case(session: AsyncSession, *, reason: str, now: datetime, order_id: int | None = None,
                    shipment_id: int | None = None, conversation_id: int | None = None, source: str = "message",
                    summary: str = "", detail: str = "") -> tuple[Case, bool]:
    """The open case of this conversation (or order, from a page), else a new one with its support alert.
    Returns (case, new). In the caller's transaction. A "not_received" case on a delivered shipment is the
    delivery problem the carrier report counts. `detail` ends the support alert's text (what the customer
    said and was told)."""
    if reason not in REASONS:
        raise CaseError("reason", f"unknown reason {reason!r}; use one of {', '.join(REASONS)}")
    same = select(Case).where(Case.state == "open")
    if conversation_id is not None:
        same = same.where(Case.conversation_id == conversation_id)
    elif order_id is not None:
        same = same.where(Case.order_id == order_id, Case.source == source)
    else:
        same = None
    existing = (await session.execute(same.limit(1))).scalars().first() if same is not None else None
    if existing is not None:
        if shipment_id and existing.shipment_id is None:
            existing.shipment_id = shipment_id
        return existing, False
    case = Case(conversation_id=conversation_id, order_id=order_id, shipment_id=shipment_id, reason=reason,
                source=source, summary=summary[:500], opened_at=now)
    session.add(case)
    await session.flush()
    number = (await session.execute(select(Order.number).where(Order.id == order_id))).scalar() if order_id else None
    about = f"order {number}" if number else "a sender tracker could not match to an order"
    await raise_alert(session, key=f"case:{case.id}", cause="customer_case", shipment_id=shipment_id, now=now,
                      message=f"case #{case.id}: the customer {REASONS[reason]} ({about}){detail}; answer it in "
                              f"the support console")
    return case, True


async def open_case_now(engine, **kw) -> tuple[Case, bool]:
    """`open_case` in a transaction of its own: for a page's "report a problem", e.g.
    `await open_case_now(engine, reason="problem", source="page", order_id=o.id, shipment_id=s.id,
    summary=text, now=clock.now())`."""
    async with sessionmaker(engine)() as session, session.begin():
        case, new = await open_case(session, **kw)
    return case, new


async def close_case(engine, case_id: int, *, by: str, now: datetime) -> Case:
    async with sessionmaker(engine)() as session, session.begin():
        case = await session.get(Case, case_id)
        if case is None:
            raise CaseError("case_id", f"no case {case_id}")
        if case.state != "closed":
            case.state, case.closed_at, case.closed_by = "closed", now, by[:80]
            log.info("%s closed case %s", by, case_id)
    return case


async def answered(session: AsyncSession, case_id: int, now: datetime) -> None:
    """Support answered: the first answer's time is kept (time to first human answer)."""
    case = await session.get(Case, case_id)
    if case is not None and case.first_answer_at is None:
        case.first_answer_at = now
        case.first_answer_seconds = max(0, int((now - case.opened_at).total_seconds()))


async def open_cases(engine, limit: int = 200) -> list[tuple[Case, str | None, str | None]]:
    """Open cases, oldest first: (case, order number, channel)."""
    async with sessionmaker(engine)() as session:
        rows = await session.execute(
            select(Case, Order.number, Conversation.channel)
            .join(Order, Order.id == Case.order_id, isouter=True)
            .join(Conversation, Conversation.id == Case.conversation_id, isouter=True)
            .where(Case.state == "open").order_by(Case.opened_at, Case.id).limit(limit))
        return [(c, n, ch) for c, n, ch in rows]


async def delivery_problems(session: AsyncSession, since: datetime) -> dict[str, int]:
    """Parcels a customer reported not received although delivered, by carrier, since `since`."""
    rows = await session.execute(
        select(Shipment.carrier, func.count(func.distinct(Case.shipment_id)))
        .join(Shipment, Shipment.id == Case.shipment_id)
        .where(Case.reason == "not_received", Case.opened_at >= since).group_by(Shipment.carrier))
    return dict(rows.all())


async def mark_told(session: AsyncSession, case: Case, now: datetime) -> bool:
    """True the first time only: the customer is told once that a person will answer."""
    result = await session.execute(update(Case).where(Case.id == case.id, Case.told_at.is_(None))
                                   .values(told_at=now).execution_options(synchronize_session=False))
    return bool(result.rowcount)
