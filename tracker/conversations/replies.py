"""Our side of a conversation, through the outbox like every other message.

An answer (automatic or support's) is a ConversationMessage ("out") plus a Notification of the order with
milestone `reply#<message id>`: the outbox's unique key makes it go out exactly once, and the dispatcher
retries it, settles it in doubt, records it and falls back to the order's other channel as for any news.
It goes to the address the customer wrote from, on the channel they used: WhatsApp free text inside the
24-hour session, else the shop's approved `support_reply` template; email threaded under the customer's
last message (In-Reply-To / References).
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tracker import redact
from tracker.db import sessionmaker, write_lock
from tracker.models import Conversation, ConversationMessage, Notification, Order, WhatsAppSession
from tracker.notify import whatsapp
from tracker.notify.base import Message, Permanent, Temporary
from tracker.retry import backoff

log = logging.getLogger("tracker.conversations")

PREFIX = "reply#"
TEMPLATE = "support_reply"  # the WhatsApp template a support answer takes outside the 24-hour session
MAX_SMS = 1600


def is_reply(milestone: str) -> bool:
    return milestone.startswith(PREFIX)


def message_id(milestone: str) -> int:
    return int(milestone[len(PREFIX):])


async def queue(session: AsyncSession, *, conversation: Conversation, order_id: int | None, text: str,
                author: str, kind: str, now: datetime, subject: str | None = None,
                case_id: int | None = None) -> ConversationMessage:
    """Record our answer and put it in the outbox, in the caller's transaction. Without an order (a sender
    matched to none) the message itself is queued and `DirectSender` sends it."""
    msg = ConversationMessage(conversation_id=conversation.id, direction="out", author=author[:80], kind=kind,
                              body=text, subject=subject if conversation.channel == "email" else None,
                              order_id=order_id, case_id=case_id, created_at=now,
                              state="queued" if order_id is None else None, next_attempt_at=now)
    session.add(msg)
    await session.flush()
    if order_id is None:
        return msg
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
    return await answers_by_id(session, [message_id(n.milestone) for n in notes if is_reply(n.milestone)])


async def answers_by_id(session: AsyncSession, ids: list[int]) -> dict[int, Pending]:
    """These answers with their conversation and the customer's emails to thread under, by message id."""
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


def build(pending: Pending | None, note_id: int, channel: str, order_number: str, to: str, *, locale: str,
          last_inbound_at: datetime | None, now: datetime, templates: dict | None, reply_to: str | None,
          subject: str) -> Message:
    """The Message of one answer. Raises Permanent when it cannot go on this channel (the next one takes it)."""
    if pending is None or pending.conversation.erased_at is not None:
        raise Permanent("the conversation was erased")
    msg = pending.message
    common = dict(locale=locale, milestone=TEMPLATE if channel == "whatsapp" else "reply",
                  order_number=order_number)
    text = msg.body
    automatic = msg.author == "auto"
    if channel == "sms":
        return Message(note_id, "sms", to, text[:MAX_SMS], **common)
    if channel == "whatsapp":
        if whatsapp.in_session(last_inbound_at, now) or templates is None:
            return Message(note_id, "whatsapp", to, text[:whatsapp.MAX_TEXT], **common)
        sid = whatsapp.template_sid(templates, TEMPLATE, locale)
        if sid is None:
            raise Permanent(f"the customer's WhatsApp session is over and there is no {TEMPLATE} template in "
                            f"{locale}; add providers.<whatsapp provider>.templates.{TEMPLATE}.{locale}")
        return Message(note_id, "whatsapp", to, text, content_sid=sid,
                       content_variables={"1": order_number, "2": " ".join(text.split())[:900]}, **common)
    headers = []
    if pending.thread:
        headers.append(("In-Reply-To", pending.thread[-1]))
        headers.append(("References", " ".join(pending.thread[-10:])))
    if automatic:
        headers.append(("Auto-Submitted", "auto-replied"))  # RFC 3834: no auto-responder answers it back
    return Message(note_id, "email", to, text, subject=msg.subject or subject, reply_to=reply_to,
                   headers=tuple(headers) or None, **common)


class DirectSender:
    """Answers to a sender matched to no order (an unknown email sender asked for the order number, support
    answering one): the outbox is per order, so these go from their own row: claimed with a lease, sent,
    the outcome recorded; a temporary refusal is retried with backoff; one that may have reached the
    provider (a timeout, a 5xx, its daemon stopped mid-send) is not sent again: at most once."""

    def __init__(self, *, engine, settings, channels: dict, clock, rng: random.Random | None = None) -> None:
        self.engine, self.settings, self.channels, self.clock = engine, settings, channels, clock
        self.maker = sessionmaker(engine)
        self.rng = rng or random.Random()
        self.cfg = settings.dispatcher
        self._writing = write_lock(engine)
        self.stopping = False

    async def tick(self) -> int:
        if self.stopping:
            return 0
        now = self.clock.now()
        M = ConversationMessage
        due = (select(M.id).where(M.state == "queued", M.next_attempt_at <= now).order_by(M.next_attempt_at)
               .limit(50).with_for_update(skip_locked=True))
        async with self._writing, self.maker() as session, session.begin():
            await session.execute(update(M).where(M.state == "sending", M.leased_until < now).values(
                state="failed", error="its daemon stopped while sending; not sent again (it may have gone out)")
                .execution_options(synchronize_session=False))
            ids = list((await session.execute(
                update(M).where(M.id.in_(due.scalar_subquery()))
                .values(state="sending", attempts=M.attempts + 1,
                        leased_until=now + timedelta(seconds=self.cfg.lease_seconds))
                .returning(M.id).execution_options(synchronize_session=False))).scalars())
        if not ids:
            return 0
        async with self.maker() as session:
            found = await answers_by_id(session, ids)
            phones = [p.conversation.address for p in found.values() if p.conversation.channel == "whatsapp"]
            sessions = dict((await session.execute(select(WhatsAppSession.phone, WhatsAppSession.last_inbound_at)
                                                   .where(WhatsAppSession.phone.in_(phones or [""])))).all())
        for mid in ids:
            await self._send(mid, found.get(mid), sessions)
        return len(ids)

    async def _send(self, mid: int, item: Pending | None, sessions: dict) -> None:
        from tracker.conversations.answers import language
        from tracker.conversations.understand import for_settings

        conv = item.conversation if item else None
        channel = self.channels.get(conv.channel) if conv else None
        if conv is None or channel is None or not conv.address:
            await self._record(mid, "failed", error="no provider for this channel, or the conversation was erased")
            return
        all_tables = for_settings(self.settings)
        lang = language(conv.locale, all_tables)
        try:
            message = build(item, -mid, conv.channel, "", conv.address, locale=lang,
                            last_inbound_at=sessions.get(conv.address), now=self.clock.now(),
                            templates=getattr(channel.settings, "templates", None),
                            reply_to=self.settings.conversations.reply_to or None,
                            subject=self.settings.shop.name)
            result = await asyncio.wait_for(channel.send(message), self.cfg.lease_seconds / 2)
        except Temporary as exc:
            if exc.ambiguous or item.message.attempts >= self.cfg.max_attempts:
                await self._record(mid, "failed", error=f"{exc} (not sent again: it may have gone out)"
                                   if exc.ambiguous else f"gave up: {exc}")
            else:
                wait = exc.retry_after if exc.retry_after is not None else backoff(
                    item.message.attempts, self.cfg.backoff_base_seconds, self.cfg.backoff_max_seconds, self.rng)
                await self._record(mid, "queued", error=str(exc), at=self.clock.now() + timedelta(seconds=wait))
        except Permanent as exc:
            await self._record(mid, "failed", error=exc.reason)
        except Exception as exc:  # a timeout or an unexpected reply: it may have gone out
            log.warning("answer %s to %s: %s; not sent again", mid, redact.address(conv.channel, conv.address),
                        type(exc).__name__)
            await self._record(mid, "failed", error=f"{type(exc).__name__} (not sent again: it may have gone out)")
        else:
            log.info("answer %s sent by %s to %s", mid, conv.channel, redact.address(conv.channel, conv.address))
            await self._record(mid, "sent", provider_id=result.provider_id)

    async def _record(self, mid: int, state: str, *, error: str | None = None, at: datetime | None = None,
                      provider_id: str | None = None) -> None:
        M = ConversationMessage
        values = dict(state=state, error=(error or "")[:300] or None, leased_until=None)
        if at is not None:
            values["next_attempt_at"] = at
        if provider_id:
            values["provider_id"] = provider_id[:255]
        async with self._writing, self.maker() as session, session.begin():
            await session.execute(update(M).where(M.id == mid, M.state == "sending").values(**values)
                                  .execution_options(synchronize_session=False))
