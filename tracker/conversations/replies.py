"""Our side of a conversation, through the outbox like every other message.

An answer (automatic or support's) is a ConversationMessage ("out") plus a Notification of the order with
milestone `reply#<message id>`: the outbox's unique key makes it go out exactly once, and the dispatcher
retries it, settles it in doubt, records it and falls back to the order's other channel as for any news.
It goes to the address the customer wrote from, on the channel they used: WhatsApp free text inside the
24-hour session, else the shop's approved `support_reply` template; email threaded under the customer's
last message (In-Reply-To / References).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tracker.models import Conversation, ConversationMessage, Notification, Order
from tracker.notify import whatsapp
from tracker.notify.base import Message, Permanent

log = logging.getLogger("tracker.conversations")

PREFIX = "reply#"
TEMPLATE = "support_reply"  # the WhatsApp template a support answer takes outside the 24-hour session
MAX_SMS = 1600


def is_reply(milestone: str) -> bool:
    return milestone.startswith(PREFIX)


def message_id(milestone: str) -> int:
    return int(milestone[len(PREFIX):])


async def queue(session: AsyncSession, *, conversation: Conversation, order_id: int, text: str,
                author: str, kind: str, now: datetime, subject: str | None = None,
                case_id: int | None = None) -> ConversationMessage:
    """Record our answer and put it in the outbox, in the caller's transaction."""
    msg = ConversationMessage(conversation_id=conversation.id, direction="out", author=author[:80], kind=kind,
                              body=text, subject=subject if conversation.channel == "email" else None,
                              order_id=order_id, case_id=case_id, created_at=now)
    session.add(msg)
    await session.flush()
    # a fresh message id in the milestone: the outbox's unique key (order, milestone, channel) cannot clash
    note = Notification(order_id=order_id, shipment_id=None, milestone=f"{PREFIX}{msg.id}",
                        channel=conversation.channel, state="queued", attempts=0, next_attempt_at=now,
                        created_at=now, updated_at=now)
    session.add(note)
    await session.flush()
    msg.notification_id = note.id
    return msg


@dataclass
class Pending:
    """What the dispatcher needs to send one answer."""

    message: ConversationMessage
    conversation: Conversation
    thread: list[str]  # Message-IDs of the customer's emails in this conversation, oldest first


async def load(session: AsyncSession, notes) -> dict[int, Pending]:
    """The answers among these outbox rows, by message id."""
    ids = [message_id(n.milestone) for n in notes if is_reply(n.milestone)]
    if not ids:
        return {}
    rows = (await session.execute(select(ConversationMessage, Conversation).join(
        Conversation, Conversation.id == ConversationMessage.conversation_id)
        .where(ConversationMessage.id.in_(ids)))).all()
    out = {m.id: Pending(m, c, []) for m, c in rows}
    emails = [c.id for m, c in rows if c.channel == "email"]
    if emails:
        for conv_id, pid in await session.execute(
                select(ConversationMessage.conversation_id, ConversationMessage.provider_id)
                .where(ConversationMessage.conversation_id.in_(emails), ConversationMessage.direction == "in",
                       ConversationMessage.provider_id.is_not(None)).order_by(ConversationMessage.id)):
            for p in out.values():
                if p.conversation.id == conv_id:
                    p.thread.append(pid)
    return out


def recipient(pending: Pending | None, order: Order, channel: str, fallback_address: str | None) -> str | None:
    """The address the customer wrote from, on that channel; the order's own on a fallback channel."""
    if pending is not None and pending.conversation.channel == channel and pending.conversation.address:
        return pending.conversation.address
    return fallback_address


def build(pending: Pending | None, note: Notification, order: Order, to: str, *, locale: str,
          last_inbound_at: datetime | None, now: datetime, templates: dict | None, reply_to: str | None,
          subject: str) -> Message:
    """The Message of one answer. Raises Permanent when it cannot go on this channel (the next one takes it)."""
    if pending is None or pending.conversation.erased_at is not None:
        raise Permanent("the conversation was erased")
    msg = pending.message
    common = dict(locale=locale, milestone=TEMPLATE if note.channel == "whatsapp" else "reply",
                  order_number=order.number)
    text = msg.body
    automatic = msg.author == "auto"
    if note.channel == "sms":
        return Message(note.id, "sms", to, text[:MAX_SMS], **common)
    if note.channel == "whatsapp":
        if whatsapp.in_session(last_inbound_at, now) or templates is None:
            return Message(note.id, "whatsapp", to, text[:whatsapp.MAX_TEXT], **common)
        sid = whatsapp.template_sid(templates, TEMPLATE, locale)
        if sid is None:
            raise Permanent(f"the customer's WhatsApp session is over and there is no {TEMPLATE} template in "
                            f"{locale}; add providers.<whatsapp provider>.templates.{TEMPLATE}.{locale}")
        return Message(note.id, "whatsapp", to, text, content_sid=sid,
                       content_variables={"1": order.number, "2": " ".join(text.split())[:900]}, **common)
    headers = []
    if pending.thread:
        headers.append(("In-Reply-To", pending.thread[-1]))
        headers.append(("References", " ".join(pending.thread[-10:])))
    if automatic:
        headers.append(("Auto-Submitted", "auto-replied"))  # RFC 3834: no auto-responder answers it back
    return Message(note.id, "email", to, text, subject=msg.subject or subject, reply_to=reply_to,
                   headers=tuple(headers) or None, **common)
