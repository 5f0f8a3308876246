"""A customer's message in: recorded, understood, answered at once or handed to a person.

`receive()` runs inside the webhook's transaction (verified and deduplicated by the web layer), so a
message is stored with everything it causes or not at all:

1. the text is cleaned (control characters out, length cut) and kept in the sender's conversation,
   attached to the orders of that phone or email;
2. nothing is answered to an auto-responder, the shop's own numbers, a suppressed sender, STOP/START
   (handled before, by the web layer), or past `conversations.auto_answers_per_hour`;
3. a status question gets the live step, expected date and page link of each open order; a sender tracker
   cannot match gets a request for the order number and email or phone (an order number alone is not
   enough: the email or phone written with it must be the order's);
4. anything else opens a case (cases.py) and the customer is told once that a person will answer.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tracker import redact
from tracker.config import Settings
from tracker.conversations import answers, cases, replies
from tracker.conversations.understand import Understanding, for_settings, is_auto_reply, is_keyword, understand
from tracker.db import insert_ignore
from tracker.models import Conversation, ConversationMessage, Order, Shipment, Suppression
from tracker.orders import InputError, normalize_phone

log = logging.getLogger("tracker.conversations")

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
QUOTE_START = re.compile(r"^(>|On .{0,200} wrote:|Em .{0,200} escreveu:|El .{0,200} escribió:|"
                         r"Στις .{0,200} έγραψε:|-{2,} ?Original Message|-{2,} ?Mensaje original|"
                         r"-{2,} ?Mensagem original|From: )", re.IGNORECASE)
MAX_ORDERS = 20


@dataclass
class Inbound:
    channel: str  # sms | whatsapp | email
    sender: str  # E.164 phone, or email address
    text: str
    provider_id: str | None = None  # MessageSid, email Message-ID
    subject: str | None = None
    automatic: bool = False  # the transport says so (email Auto-Submitted, Precedence: bulk...)
    opt: str | None = None  # "stop" / "start": already applied by the web layer, only recorded here
    attachments: int = 0  # photos, files: not kept; a message of attachments only goes to a person


@dataclass
class Received:
    message_id: int
    kind: str  # what it was understood as, or why it was not answered
    queued: bool = False  # an answer is in the outbox: wake the dispatcher
    direct: str | None = None  # an answer to give in the webhook's own reply (TwiML), for an unmatched sender
    case_id: int | None = None


def clean(text: str | None, limit: int) -> str:
    """Untrusted text made safe to keep and show: NFC, no control or direction characters, cut to `limit`."""
    text = unicodedata.normalize("NFC", str(text or "")).replace("\r\n", "\n").replace("\r", "\n")
    return CONTROL.sub("", text).strip()[:limit]


def own_words(text: str) -> str:
    """An email reply without the quoted message under it."""
    kept = []
    for line in text.split("\n"):
        if QUOTE_START.match(line.strip()):
            break
        kept.append(line)
    return "\n".join(kept).strip() or text


def opt_word(text: str, settings: Settings) -> str | None:
    """"stop" / "start" when the whole message is an opt-out or opt-in word of any language."""
    all_tables = for_settings(settings)
    if any(is_keyword(text, t.stop) for t in all_tables.values()):
        return "stop"
    if any(is_keyword(text, t.start) for t in all_tables.values()):
        return "start"
    return None


def own_addresses(settings: Settings) -> set[str]:
    found = {a.strip().lower() for a in settings.conversations.own_addresses}
    for raw in settings.providers.values():
        for key in ("from_number", "from_email"):
            if isinstance(raw, dict) and isinstance(raw.get(key), str):
                found.add(raw[key].removeprefix("whatsapp:").strip().lower())
    return found


async def _conversation(session: AsyncSession, engine, channel: str, sender: str, now: datetime,
                        locale: str) -> Conversation:
    await session.execute(insert_ignore(engine, Conversation.__table__, [dict(
        channel=channel, address=sender, locale=locale, created_at=now)], ["channel", "address"]))
    return (await session.execute(select(Conversation).where(
        Conversation.channel == channel, Conversation.address == sender))).scalar_one()


def _address_variants(sender: str) -> list[str]:
    local, _, domain = sender.rpartition("@")
    return sorted({sender, sender.lower(), f"{local}@{domain.lower()}"})


async def _orders_of(session: AsyncSession, channel: str, sender: str) -> list[Order]:
    where = (Order.email.in_(_address_variants(sender)) if channel == "email" else Order.phone == sender)
    return list((await session.execute(select(Order).where(where, Order.erased_at.is_(None))
                                       .order_by(Order.id.desc()).limit(MAX_ORDERS))).scalars())


async def _claimed_order(session: AsyncSession, said: Understanding, settings: Settings,
                         sender: str) -> Order | None:
    """An order number written by a sender tracker does not know, with the order's own email or phone."""
    numbers = set(said.order_numbers) | {n.lstrip("#") for n in said.order_numbers}
    numbers |= {n.upper() for n in numbers} | {f"#{n}" for n in numbers}
    if not numbers:
        return None
    phones = set()
    for raw in said.phones + [sender]:
        try:
            phones.add(normalize_phone(raw, settings.shop.default_region))
        except InputError:
            continue
    emails = {e.lower() for e in said.emails} | {sender.lower()}
    for order in (await session.execute(select(Order).where(Order.number.in_(sorted(numbers)),
                                                            Order.erased_at.is_(None)).limit(5))).scalars():
        if (order.email and order.email.lower() in emails) or (order.phone and order.phone in phones):
            return order
    return None


async def _states(session: AsyncSession, orders: list[Order]) -> list[answers.OrderState]:
    ships: dict[int, list[Shipment]] = {o.id: [] for o in orders}
    for s in (await session.execute(select(Shipment).where(Shipment.order_id.in_(list(ships)))
                                    .order_by(Shipment.id))).scalars():
        ships[s.order_id].append(s)
    return [answers.OrderState(o, ships[o.id]) for o in orders]


async def _auto_answers_last_hour(session: AsyncSession, conversation_id: int, now: datetime) -> int:
    return (await session.execute(select(func.count()).where(
        ConversationMessage.conversation_id == conversation_id, ConversationMessage.direction == "out",
        ConversationMessage.author == "auto", ConversationMessage.created_at > now - timedelta(hours=1)))).scalar_one()


async def receive(session: AsyncSession, engine, settings: Settings, now: datetime, msg: Inbound) -> Received:
    cfg = settings.conversations
    all_tables = for_settings(settings)
    text = clean(msg.text, cfg.max_text_chars)
    if msg.channel == "email":
        text = own_words(text)
    subject = clean(msg.subject, 300) or None
    orders = await _orders_of(session, msg.channel, msg.sender)
    said = understand(f"{subject or ''}\n{text}", all_tables, orders[0].locale if orders else None)
    if not orders and (claimed := await _claimed_order(session, said, settings, msg.sender)) is not None:
        orders = [claimed]
    locale = (orders[0].locale if orders else None) or said.language or settings.shop.default_locale
    lang = answers.language(locale, all_tables)
    conv = await _conversation(session, engine, msg.channel, msg.sender, now, lang)
    conv.last_inbound_at, conv.locale = now, lang
    if orders:
        conv.order_id = orders[0].id
    states = await _states(session, orders) if orders else []
    # the orders this message is about: those it names, else all of the sender's
    named = [s for s in states if s.order.number in said.order_numbers or f"#{s.order.number}" in said.order_numbers
             or s.order.number.lstrip("#") in said.order_numbers]
    about = named or states
    inbound = ConversationMessage(conversation_id=conv.id, direction="in", author="customer", kind=said.intent,
                                  body=text, subject=subject, provider_id=(msg.provider_id or None) and
                                  msg.provider_id[:255], order_id=about[0].order.id if about else None,
                                  created_at=now)
    session.add(inbound)
    await session.flush()
    result = Received(inbound.id, said.intent)
    who = redact.address(msg.channel, msg.sender)

    def quiet(kind: str) -> Received:
        inbound.kind, result.kind = kind, kind
        log.info("%s message from %s recorded (%s), not answered", msg.channel, who, kind)
        return result

    if msg.opt:
        return quiet(msg.opt)
    if msg.automatic or is_auto_reply(f"{subject or ''}\n{text}", all_tables):
        return quiet("auto_reply")
    if msg.sender.strip().lower() in own_addresses(settings):
        return quiet("own_address")
    if not text and not subject and not msg.attachments:
        return quiet("empty")
    suppressed = (await session.execute(select(Suppression.id).where(
        Suppression.channel == msg.channel, Suppression.address == msg.sender))).first() is not None
    limited = await _auto_answers_last_hour(session, conv.id, now) >= cfg.auto_answers_per_hour
    texts = all_tables[lang].texts

    intent = said.intent
    if not text and msg.attachments and intent in ("where", "thanks", "unknown"):
        intent = "unknown"  # only a photo or a file: a person looks
        about = about or states
    delivered = next((s.delivered() for s in about if s.delivered()), None)
    if intent == "not_received" and delivered is None and about:
        intent = "where"  # not there yet, and the carrier agrees: a status question
    if intent == "thanks":
        return quiet("thanks")
    if intent in ("where", "unknown") and not about:
        if suppressed or limited:
            return quiet("limited" if limited else "suppressed")
        answer = answers.ask_text(settings, texts)
        await _answer_unmatched(session, conv, answer, "ask", now, result, subject=subject)
        inbound.answered, result.kind = True, "unmatched"
        log.info("%s message from %s: no order matches; asked for the order number", msg.channel, who)
        return result
    if intent == "where":
        if suppressed or limited:
            return quiet("limited" if limited else "suppressed")
        answer = (answers.sms_status_text if msg.channel == "sms" else answers.status_text)(
            settings, texts, about, lang, now.date())
        await replies.queue(session, conversation=conv, order_id=about[0].order.id, text=answer, author="auto",
                            kind="status", now=now, subject=answers.subject_text(texts, about[0].order.number, subject))
        inbound.answered, result.queued = True, True
        log.info("%s status question from %s answered at once (%d orders)", msg.channel, who, len(about))
        return result
    # everything else: a person answers
    reason = intent if intent in cases.REASONS else "unknown"
    case, new = await cases.open_case(
        session, reason=reason, now=now, order_id=about[0].order.id if about else None,
        shipment_id=delivered.id if reason == "not_received" and delivered else None, conversation_id=conv.id,
        summary=text[:500] or f"({msg.attachments} attachments, not kept: ask the customer to describe them)")
    inbound.case_id, result.case_id, result.kind = case.id, case.id, reason
    if new:
        log.info("%s message from %s opened case %s (%s)", msg.channel, who, case.id, reason)
    if suppressed or limited or not await cases.mark_told(session, case, now):
        return result
    ack = answers.case_text(settings, texts, lang, about[0].order.number if about else None)
    if about:
        await replies.queue(session, conversation=conv, order_id=about[0].order.id, text=ack, author="auto",
                            kind="case_ack", now=now, case_id=case.id,
                            subject=answers.subject_text(texts, about[0].order.number, subject))
        result.queued = True
    else:
        await _answer_unmatched(session, conv, ack, "case_ack", now, result, subject=subject, case_id=case.id)
    return result


async def _answer_unmatched(session: AsyncSession, conv: Conversation, text: str, kind: str, now: datetime,
                            result: Received, *, subject: str | None, case_id: int | None = None) -> None:
    """No order to send about: SMS and WhatsApp answer in Twilio's own reply (TwiML); email from the message's
    own row (replies.DirectSender)."""
    if conv.channel == "email":
        await replies.queue(session, conversation=conv, order_id=None, text=text, author="auto", kind=kind, now=now,
                            subject=f"Re: {subject}" if subject and not subject.lower().startswith("re:")
                            else subject, case_id=case_id)
        result.queued = True
        return
    session.add(ConversationMessage(conversation_id=conv.id, direction="out", author="auto", kind=kind, body=text,
                                    case_id=case_id, created_at=now, state="sent"))
    result.direct = text


def sender_of(channel: str, raw: str) -> str:
    """The sender as conversations key it: E.164 for phones, the address for email."""
    return raw.removeprefix("whatsapp:").strip() if channel != "email" else raw.strip()

