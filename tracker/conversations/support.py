"""Support's side: an order's conversation (console, API, `tracker status`) and answering it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from tracker.config import Settings
from tracker.conversations import answers, cases, replies
from tracker.conversations.inbound import clean
from tracker.conversations.understand import for_settings
from tracker.db import sessionmaker
from tracker.models import Case, Conversation, ConversationMessage, Notification, Order

log = logging.getLogger("tracker.conversations")

MAX_ANSWER = 1600


@dataclass
class Thread:
    conversations: list[Conversation] = field(default_factory=list)
    messages: list[ConversationMessage] = field(default_factory=list)
    states: dict[int, str] = field(default_factory=dict)  # notification id -> outbox state
    cases: list[Case] = field(default_factory=list)

    def state_of(self, m: ConversationMessage) -> str | None:
        """Where one of our answers is: its outbox state (or its own, sent without an order)."""
        if m.direction == "in":
            return None
        return self.states.get(m.notification_id) or m.state or "recorded"

    def channel_of(self, m: ConversationMessage) -> str:
        return next((c.channel for c in self.conversations if c.id == m.conversation_id), "")


async def thread(session, order: Order) -> Thread:
    """Every conversation of this order's customer (by the order, its phone or its email), oldest first."""
    conds = [Conversation.order_id == order.id]
    conds += [Conversation.address == a for a in (order.phone, order.email) if a]
    convs = list((await session.execute(select(Conversation).where(or_(*conds)).order_by(Conversation.id))).scalars())
    return await _thread(session, convs, Case.order_id == order.id)


async def case_thread(engine, case_id: int) -> tuple[Case | None, Thread]:
    """A case and the conversation it came from (a sender matched to no order has no order page)."""
    async with sessionmaker(engine)() as session:
        case = await session.get(Case, case_id)
        if case is None:
            return None, Thread()
        conv = await session.get(Conversation, case.conversation_id) if case.conversation_id else None
        return case, await _thread(session, [conv] if conv else [], Case.id == case.id)


async def _thread(session, convs: list[Conversation], cases_too) -> Thread:
    out = Thread(convs)
    if convs:
        ids = [c.id for c in convs]
        out.messages = list((await session.execute(select(ConversationMessage).where(
            ConversationMessage.conversation_id.in_(ids)).order_by(ConversationMessage.created_at,
                                                                   ConversationMessage.id).limit(500))).scalars())
        notes = [m.notification_id for m in out.messages if m.notification_id]
        if notes:
            out.states = dict((await session.execute(select(Notification.id, Notification.state).where(
                Notification.id.in_(notes)))).all())
    out.cases = list((await session.execute(select(Case).where(or_(
        cases_too, Case.conversation_id.in_([c.id for c in convs] or [-1])))
        .order_by(Case.opened_at))).scalars())
    return out


async def answer(engine, settings: Settings, now: datetime, *, text: str, who: str, order_number: str | None = None,
                 case_id: int | None = None) -> ConversationMessage:
    """Support's answer, on the channel the customer last wrote on, through the outbox. Raises CaseError
    naming the field when there is nothing to answer or the text is unusable."""
    body = clean(text, MAX_ANSWER + 1)
    if not body:
        raise cases.CaseError("text", "the answer is empty; write what the customer should read")
    if len(body) > MAX_ANSWER:
        raise cases.CaseError("text", f"the answer is longer than {MAX_ANSWER} characters; shorten it")
    async with sessionmaker(engine)() as session, session.begin():
        order, case, conv = None, None, None
        if case_id is not None:
            case = await session.get(Case, case_id)
            if case is None:
                raise cases.CaseError("case_id", f"no case {case_id}")
            conv = await session.get(Conversation, case.conversation_id) if case.conversation_id else None
            order = await session.get(Order, case.order_id) if case.order_id else None
        elif order_number is not None:
            order = (await session.execute(select(Order).where(Order.number == order_number.strip()))).scalars().first()
            if order is None:
                raise cases.CaseError("order", f"no order {order_number}")
        if conv is None and order is not None:
            conds = [Conversation.order_id == order.id]
            conds += [Conversation.address == a for a in (order.phone, order.email) if a]
            conv = (await session.execute(select(Conversation).where(or_(*conds), Conversation.erased_at.is_(None))
                                          .order_by(Conversation.last_inbound_at.desc()).limit(1))).scalars().first()
        if conv is None or conv.erased_at is not None:
            raise cases.CaseError("conversation", "the customer has not written to us (or their messages were "
                                                  "erased): there is nothing to answer")
        order_id = (order.id if order else None) or conv.order_id  # None: sent without the order outbox
        number = order.number if order else (await session.get(Order, order_id)).number if order_id else None
        last_subject = (await session.execute(select(ConversationMessage.subject).where(
            ConversationMessage.conversation_id == conv.id, ConversationMessage.direction == "in")
            .order_by(ConversationMessage.id.desc()).limit(1))).scalar()
        all_tables = for_settings(settings)
        texts = all_tables[answers.language(conv.locale, all_tables)].texts
        msg = await replies.queue(session, conversation=conv, order_id=order_id, text=body, author=f"support:{who}",
                                  kind="support", now=now, case_id=case.id if case else None,
                                  subject=answers.subject_text(texts, number, last_subject))
        open_ids = [c.id for c in (await session.execute(select(Case).where(
            Case.state == "open", or_(Case.conversation_id == conv.id, Case.order_id == order_id)))).scalars()]
        for cid in open_ids:
            await cases.answered(session, cid, now)
    log.info("%s answered the customer of order %s on %s", who, number, conv.channel)
    return msg


# --- privacy: the person's own words go with their contact data (tracker/privacy/parts.py) ---------------

def _mine(order_ids, addresses):
    conds = [Conversation.order_id.in_(list(order_ids) or [-1])]
    if addresses:  # email conversations are keyed in lower case
        conds.append(Conversation.address.in_(sorted(set(addresses) | {a.lower() for a in addresses})))
    return or_(*conds)


async def export_conversations(session, order_ids, addresses) -> list[dict]:
    convs = list((await session.execute(select(Conversation).where(_mine(order_ids, addresses))
                                        .order_by(Conversation.id))).scalars())
    out = []
    for c in convs:
        msgs = (await session.execute(select(ConversationMessage).where(ConversationMessage.conversation_id == c.id)
                                      .order_by(ConversationMessage.id))).scalars()
        out.append({"channel": c.channel, "address": c.address, "erased_at": c.erased_at and c.erased_at.isoformat(),
                    "messages": [{"at": m.created_at.isoformat(), "from": "customer" if m.direction == "in" else
                                  ("shop" if m.author == "auto" else "support"), "subject": m.subject, "text": m.body}
                                 for m in msgs]})
    return out


async def erase_conversations(session, order_ids, addresses, now: datetime) -> int:
    """Texts, subjects and the sender's address go; which messages came and went, and when, stays."""
    ids = [i for (i,) in await session.execute(select(Conversation.id).where(_mine(order_ids, addresses)))]
    return await _erase(session, ids, now)


async def _erase(session, ids: list[int], now: datetime) -> int:
    if not ids:
        return 0
    result = await session.execute(update(ConversationMessage).where(ConversationMessage.conversation_id.in_(ids))
                                   .values(body="", subject=None).execution_options(synchronize_session=False))
    await session.execute(update(Conversation).where(Conversation.id.in_(ids))
                          .values(address=None, erased_at=now).execution_options(synchronize_session=False))
    await session.execute(update(Case).where(Case.conversation_id.in_(ids)).values(summary="")
                          .execution_options(synchronize_session=False))
    return max(result.rowcount or 0, 0)


async def erase_unmatched_conversations(engine, now: datetime, days: float) -> int:
    """Conversations matched to no order have no order whose erasure takes them: they go `days` after the
    last message in them (privacy.erase_contact_after_days), once no case of theirs is open."""
    open_case = select(Case.id).where(Case.conversation_id == Conversation.id, Case.state == "open")
    async with sessionmaker(engine)() as session, session.begin():
        ids = [i for (i,) in await session.execute(select(Conversation.id).where(
            Conversation.order_id.is_(None), Conversation.erased_at.is_(None),
            Conversation.last_inbound_at < now - timedelta(days=days), ~open_case.exists()).limit(1000))]
        return await _erase(session, ids, now)
