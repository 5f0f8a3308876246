"""Provider webhooks on the daemon's web server.

    POST /webhooks/twilio/status     Twilio status callbacks: delivered / undelivered / failed
    POST /webhooks/twilio/inbound    Twilio inbound SMS and WhatsApp: STOP (opt out) and START (opt back in);
                                     a WhatsApp message also opens its 24-hour session
    POST /webhooks/sendgrid/events   SendGrid Event Webhook: delivered, bounce, dropped, spamreport, unsubscribe
    POST /webhooks/sendgrid/inbound  SendGrid Inbound Parse: customers' email replies (tracker/conversations/)

Every request is signature-checked first (Twilio: X-Twilio-Signature over the public URL; SendGrid:
ECDSA P-256 over timestamp + raw body, with a replay window) and answered 403 with nothing recorded if
the check fails. Each event is applied once (WebhookEvent source + id), in the same transaction as its
effect. Outbox states only move forward: a `delivered` or `failed` notification is never changed again,
and a late report cannot undo it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import unicodedata
from xml.sax.saxutils import escape
from collections.abc import Iterable
from typing import TYPE_CHECKING

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import case, delete, select, update

from tracker import duplicates, fallback, preferences, redact
from tracker.conversations import email_in
from tracker.conversations.inbound import Inbound, opt_word, receive
from tracker.db import insert_ignore, sessionmaker
from tracker.models import (
    Notification,
    Order,
    Suppression,
    WebhookEvent,
    WhatsAppSession,
)
from tracker.notify.email import load_sendgrid_key
from tracker.notify.whatsapp import SESSION

if TYPE_CHECKING:
    from tracker.app import Daemon

log = logging.getLogger("tracker.web.messaging")

TWILIO_STATUS = "/webhooks/twilio/status"
TWILIO_INBOUND = "/webhooks/twilio/inbound"
SENDGRID_EVENTS = "/webhooks/sendgrid/events"
SENDGRID_INBOUND = "/webhooks/sendgrid/inbound"  # Inbound Parse (customers' email replies)
PARSE_MAX_BYTES = 31 * 1024 * 1024

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
# Twilio answers the SMS keywords itself; on WhatsApp nobody does, so the customer's own words count too.
WHATSAPP_STOP_WORDS = STOP_WORDS | {"BAJA", "PARAR", "SAIR", "CANCELAR", "ΔΙΑΓΡΑΦΗ", "ΣΤΟΠ", "ΔΙΑΚΟΠΗ"}
WHATSAPP_START_WORDS = START_WORDS | {"ALTA", "INICIAR", "VOLTAR", "ΕΝΑΡΞΗ"}
# Twilio delivery errors that mean the number itself is gone (opted out, unknown, landline; WhatsApp:
# not on WhatsApp, blocked us, invalid recipient).
TWILIO_DEAD_NUMBER = frozenset({"21610", "30005", "30006", "63003", "63014", "63024"})
TWILIO_PROVIDERS = ("twilio", "twilio_whatsapp")
SENDGRID_SUPPRESS = frozenset({"bounce", "dropped", "spamreport", "unsubscribe", "group_unsubscribe"})
SIG_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TS_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

TWIML_MESSAGE = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>{}</Message></Response>'
OPEN_STATES = ("sending", "sent")  # what a delivery report may still change


def keyword(body: str) -> str:
    """A reply as a keyword: capitals, accents dropped ("Διαγραφή" and "ΔΙΑΓΡΑΦΗ" are one word)."""
    bare = "".join(ch for ch in unicodedata.normalize("NFD", body.strip()) if not unicodedata.combining(ch))
    return bare.upper().rstrip(".!")


def _provider(request: web.Request, name: str):
    from tracker.web.common import DAEMON

    daemon: Daemon = request.app[DAEMON]
    return daemon, getattr(daemon, "providers", {}).get(name)


def _public_url(daemon: "Daemon", request: web.Request) -> str:
    """The URL the provider called, as it knows it: server.public_url + path and query."""
    return daemon.settings.server.public_url.rstrip("/") + request.rel_url.path_qs


async def _twilio_form(request: web.Request):
    """(daemon, form) when the request is signed by our Twilio account, else None."""
    from twilio.request_validator import RequestValidator

    daemon, _ = _provider(request, "twilio")
    tokens = {p.settings.auth_token.get_secret_value() for name in TWILIO_PROVIDERS
              if (p := _provider(request, name)[1]) is not None and p.settings.auth_token is not None
              and p.settings.auth_token.get_secret_value().strip()}  # an empty key would accept any signature
    if not tokens:
        return daemon, None
    form = await request.post()
    signature = request.headers.get("X-Twilio-Signature", "")
    checked = _public_url(daemon, request)
    if not signature or not any(RequestValidator(t).validate(checked, form, signature) for t in sorted(tokens)):
        # Twilio signs the URL it called: a server.public_url that differs from it fails every request
        log.warning("rejected a Twilio webhook with a bad signature on %s (checked against %s; if that is not "
                    "the URL Twilio calls, fix server.public_url)", request.path, checked)
        return daemon, None
    return daemon, form


async def _first_time(session, engine, source: str, event_id: str, now) -> bool:
    result = await session.execute(insert_ignore(engine, WebhookEvent.__table__, [dict(
        source=source, event_id=event_id[:128], received_at=now)], ["source", "event_id"]))
    return bool(result.rowcount)


async def _fallback(session, engine, note: Notification, order: Order, now, why: str,
                    able: Iterable[str] = ("sms", "email")) -> None:
    for other, to in fallback.fallbacks(order, note.channel):
        blocked = (await session.execute(select(Suppression.id).where(
            Suppression.channel == other, Suppression.address == to))).first()
        if other in able and not blocked:
            break
    else:
        return
    await session.execute(insert_ignore(engine, Notification.__table__, [dict(
        shipment_id=note.shipment_id, order_id=note.order_id, milestone=note.milestone, channel=other,
        state="queued", attempts=0, next_attempt_at=now, created_at=now, updated_at=now,
        error=f"fallback: {note.channel} {why}")],
        # news about an order before it has a parcel is unique per order (tracker/models.py)
        ["shipment_id" if note.shipment_id is not None else "order_id", "milestone", "channel"],
        where=Notification.shipment_id.is_(None) if note.shipment_id is None else None))


async def _suppress(session, engine, channel: str, address: str, reason: str, now) -> None:
    await session.execute(insert_ignore(engine, Suppression.__table__, [dict(
        channel=channel, address=address, reason=reason[:64], created_at=now)], ["channel", "address"]))


async def _conclude(session, note: Notification, state: str, now, *, provider: str, provider_id: str | None,
                    error: str | None = None) -> bool:
    """Move a notification forward to delivered/failed, only from sending/sent. True if it moved.

    Clearing the lease also stops a dispatcher that is still recording this send from writing `sent`
    over the report (it only updates rows it still holds)."""
    values = dict(state=state, updated_at=now, leased_until=None, lease_owner=None, provider=provider)
    states = OPEN_STATES
    if note.doubt == "in_doubt":  # the provider's report is the proof the in-doubt send reached it
        states = (*OPEN_STATES, "queued", "deferred")
        values["doubt"] = "found"
    if provider_id and not note.provider_id:
        values["provider_id"] = provider_id
    if state == "delivered":
        values["delivered_at"] = now
    else:
        values["error"] = error
    result = await session.execute(
        update(Notification).where(Notification.id == note.id, Notification.state.in_(states))
        .values(**values).execution_options(synchronize_session=False))
    return bool(result.rowcount)


async def _settle_by_report(session, note: Notification, sid: str, now) -> None:
    """Twilio reports a message it took for this notification (queued, sent...): a send handed over and not
    yet recorded (its daemon died, or the row is in doubt) is sent, and never sent again."""
    result = await session.execute(
        update(Notification).where(Notification.id == note.id, Notification.handed_at.is_not(None),
                                   Notification.provider_id.is_(None),
                                   Notification.state.in_(["queued", "deferred", "sending"]))
        .values(state="sent", doubt=case((Notification.doubt == "in_doubt", "found"), else_=Notification.doubt),
                provider="twilio", provider_id=sid, sent_at=now, error=None, leased_until=None, lease_owner=None,
                updated_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount:
        log.info("%s #%s: Twilio reports it took the message before its send was recorded; recorded as sent, "
                 "not to be sent again", note.channel, note.id)


async def twilio_status(request: web.Request) -> web.Response:
    daemon, form = await _twilio_form(request)
    if form is None:
        return web.Response(status=403, text="bad signature")
    sid = form.get("MessageSid", "")
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    error_code = form.get("ErrorCode") or ""
    if not sid or not status:
        return web.Response(status=400, text="MessageSid and MessageStatus are required")
    now = daemon.clock.now()
    async with sessionmaker(daemon.engine)() as session, session.begin():
        note = None
        nid = request.query.get("n", "")
        if nid.isascii() and nid.isdigit():
            note = await session.get(Notification, int(nid))
            if note is not None and note.channel not in ("sms", "whatsapp"):
                note = None
            elif note is not None and note.provider_id not in (None, sid):
                # our callback URL names this notification, so this message was sent for it: a second one
                await duplicates.record(session, daemon.engine, notification_id=note.id, channel=note.channel,
                                        provider_id=sid, seen_by="twilio-status", now=now)
                note = None
        if status not in ("delivered", "undelivered", "failed"):
            if note is not None and note.provider_id is None:
                await _settle_by_report(session, note, sid, now)
            return web.Response(status=204)  # queued/sent/...: nothing a customer would notice, nothing kept
        if not await _first_time(session, daemon.engine, "twilio-status", f"{sid}:{status}", now):
            return web.Response(status=204)
        if note is None:
            note = (await session.execute(select(Notification).where(
                Notification.provider_id == sid, Notification.channel.in_(("sms", "whatsapp"))))).scalars().first()
        if note is None:
            log.info("Twilio status %s for an unknown message", status)
            return web.Response(status=204)
        if status == "delivered":
            await _conclude(session, note, "delivered", now, provider="twilio", provider_id=sid)
            return web.Response(status=204)
        error = f"Twilio reports {status}" + (f" (error {error_code})" if error_code else "")
        if await _conclude(session, note, "failed", now, provider="twilio", provider_id=sid, error=error):
            order = await session.get(Order, note.order_id)
            if error_code in TWILIO_DEAD_NUMBER and order.phone:
                await _suppress(session, daemon.engine, note.channel, order.phone, f"twilio {error_code}", now)
            await _fallback(session, daemon.engine, note, order, now, status, daemon.channels)
            log.warning("%s #%s for order %s %s", note.channel, note.id, order.number, error)
    return web.Response(status=204)


async def twilio_inbound(request: web.Request) -> web.Response:
    daemon, form = await _twilio_form(request)
    if form is None:
        return web.Response(status=403, text="bad signature")
    sender = form.get("From", "")
    channel, stop_words, start_words = "sms", STOP_WORDS, START_WORDS
    if sender.startswith("whatsapp:"):
        channel, stop_words, start_words = "whatsapp", WHATSAPP_STOP_WORDS, WHATSAPP_START_WORDS
        sender = sender[len("whatsapp:"):]
    body = form.get("Body") or ""
    word = keyword(body)
    opt = (form.get("OptOutType") or "").upper()
    said = opt_word(body, daemon.settings)  # STOP/START in every language the keyword tables speak
    sid = form.get("MessageSid") or hashlib.sha256(f"{sender}|{word}".encode()).hexdigest()
    now = daemon.clock.now()
    twiml = web.Response(text="<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>", content_type="text/xml")
    if not sender:
        return twiml
    received = None
    async with sessionmaker(daemon.engine)() as session, session.begin():
        if not await _first_time(session, daemon.engine, "twilio-inbound", sid, now):
            return twiml
        if channel == "whatsapp":
            await _open_session(session, daemon.engine, sender, now)
        stop = word in stop_words or opt == "STOP" or said == "stop"
        start = not stop and (word in start_words or opt == "START" or said == "start")
        if stop or start:
            orders = (await session.execute(select(Order.id).where(Order.phone == sender)
                                            .order_by(Order.id.desc()).limit(50))).scalars().all()
            label = "WhatsApp" if channel == "whatsapp" else "SMS"
        if stop:
            await _suppress(session, daemon.engine, channel, sender, "replied STOP", now)
            await preferences.record(session, orders, f"{channel} reply", f"opted out of {label} (replied {word})", now)
            log.info("%s opted out of %s", redact.phone(sender), label)
        elif start:
            await session.execute(delete(Suppression).where(Suppression.channel == channel,
                                                            Suppression.address == sender))
            await preferences.record(session, orders, f"{channel} reply", f"opted back in to {label} (replied {word})",
                                     now)
            log.info("%s opted back in to %s", redact.phone(sender), label)
        if daemon.settings.conversations.enabled:
            received = await receive(session, daemon.engine, daemon.settings, now, Inbound(
                channel, sender, body, provider_id=form.get("MessageSid"),
                opt="stop" if stop else "start" if start else None, attachments=_media_count(form)))
    if received is not None and received.queued:
        daemon.wake_dispatcher()
    if received is not None and received.direct:  # an unmatched sender: answered in Twilio's own reply
        return web.Response(text=TWIML_MESSAGE.format(escape(received.direct)), content_type="text/xml")
    return twiml  # Twilio itself answers the keywords; answers to questions go through the outbox


def _media_count(form) -> int:
    raw = form.get("NumMedia") or "0"
    return min(int(raw), 10) if raw.isascii() and raw.isdigit() else 0


async def _open_session(session, engine, phone: str, now) -> None:
    """The customer wrote on WhatsApp: free-form messages may reach them for the next 24 hours. Sessions
    already over are deleted here: a phone number is kept no longer than it is of use."""
    await session.execute(delete(WhatsAppSession).where(WhatsAppSession.last_inbound_at < now - SESSION)
                          .execution_options(synchronize_session=False))
    moved = await session.execute(update(WhatsAppSession).where(WhatsAppSession.phone == phone)
                                  .values(last_inbound_at=now).execution_options(synchronize_session=False))
    if not moved.rowcount:
        await session.execute(insert_ignore(engine, WhatsAppSession.__table__, [dict(
            phone=phone, last_inbound_at=now)], ["phone"]))


def _sendgrid_ok(daemon: "Daemon", key_b64: str | None, max_age: float, raw: bytes, signature: str,
                 timestamp: str) -> bool:
    if not key_b64 or not signature or not timestamp:
        return False
    try:
        age = abs(daemon.clock.now().timestamp() - int(timestamp))
    except ValueError:
        return False
    if age > max_age:
        return False  # a replay, or a clock far off
    try:
        load_sendgrid_key(key_b64).verify(base64.b64decode(signature), timestamp.encode() + raw,
                                          ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


async def sendgrid_events(request: web.Request) -> web.Response:
    daemon, sendgrid = _provider(request, "sendgrid")
    raw = await request.read()
    if sendgrid is None or not _sendgrid_ok(daemon, sendgrid.settings.webhook_public_key,
                                            sendgrid.settings.webhook_max_age_seconds, raw,
                                            request.headers.get(SIG_HEADER, ""), request.headers.get(TS_HEADER, "")):
        log.warning("rejected a SendGrid event batch with a bad or stale signature")
        return web.Response(status=403, text="bad signature")
    try:
        events = json.loads(raw)
    except ValueError:
        return web.Response(status=400, text="not JSON")
    if not isinstance(events, list):
        events = [events]
    now = daemon.clock.now()
    async with sessionmaker(daemon.engine)() as session, session.begin():
        for ev in events:
            if isinstance(ev, dict):
                await _apply_sendgrid(session, daemon, ev, now)
    return web.Response(status=204)


async def _apply_sendgrid(session, daemon: "Daemon", ev: dict, now) -> None:
    kind = str(ev.get("event", ""))
    event_id = ev.get("sg_event_id") or hashlib.sha256(json.dumps(ev, sort_keys=True).encode()).hexdigest()
    await _second_email(session, daemon, ev, now)
    if kind == "processed":
        await _settle_in_doubt(session, ev, now)
        return
    if kind != "delivered" and kind not in SENDGRID_SUPPRESS:
        return  # open, click...: nothing to change, nothing kept
    if not await _first_time(session, daemon.engine, "sendgrid", str(event_id), now):
        return
    note = None
    nid = str(ev.get("notification_id", ""))
    if nid.isascii() and nid.isdigit():
        note = await session.get(Notification, int(nid))
        if note is not None and note.channel != "email":
            note = None
    msg_id = str(ev.get("sg_message_id", "")).split(".")[0] or None
    if note is None and msg_id:
        note = (await session.execute(select(Notification).where(
            Notification.provider_id == msg_id, Notification.channel == "email"))).scalars().first()
    order = await session.get(Order, note.order_id) if note is not None else None
    if kind == "delivered":
        if note is not None:
            await _conclude(session, note, "delivered", now, provider="sendgrid", provider_id=msg_id)
        return
    address = (order.email if order is not None and order.email else None) or ev.get("email")
    reason = f"sendgrid {kind}" + (f": {ev.get('reason')}" if ev.get("reason") else "")
    if address:
        await _suppress(session, daemon.engine, "email", address, f"sendgrid {kind}", now)
        log.info("email %s suppressed after %s", redact.email(address), kind)
    if note is not None and await _conclude(session, note, "failed", now, provider="sendgrid",
                                            provider_id=msg_id, error=reason[:300]):
        if kind in ("bounce", "dropped"):
            await _fallback(session, daemon.engine, note, order, now, kind, daemon.channels)


async def _second_email(session, daemon: "Daemon", ev: dict, now) -> None:
    """An event about another message than the one recorded for its notification: the mail went twice."""
    nid = str(ev.get("notification_id", ""))
    msg_id = str(ev.get("sg_message_id", "")).split(".")[0]
    if not (nid.isascii() and nid.isdigit() and msg_id):
        return
    note = await session.get(Notification, int(nid))
    # "sg-<id>" stands in when SendGrid answered without X-Message-Id: nothing to compare with
    if (note is not None and note.channel == "email" and note.provider_id and note.provider_id != msg_id
            and not note.provider_id.startswith("sg-")):
        await duplicates.record(session, daemon.engine, notification_id=note.id, channel="email",
                                provider_id=msg_id, seen_by="sendgrid-event", now=now)


async def _settle_in_doubt(session, ev: dict, now) -> None:
    """SendGrid took this mail: an email handed over and not yet recorded (its daemon may be dead, or the
    row already in doubt) is sent, not to be sent again."""
    nid = str(ev.get("notification_id", ""))
    if not (nid.isascii() and nid.isdigit()):
        return
    msg_id = str(ev.get("sg_message_id", "")).split(".")[0] or None
    result = await session.execute(
        update(Notification).where(Notification.id == int(nid), Notification.channel == "email",
                                   Notification.handed_at.is_not(None),
                                   Notification.state.in_(["queued", "deferred", "sending"]))
        .values(state="sent", doubt=case((Notification.doubt == "in_doubt", "found"), else_=Notification.doubt),
                provider="sendgrid", provider_id=msg_id, sent_at=now, error=None,
                leased_until=None, lease_owner=None, updated_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount:
        log.info("email #%s: SendGrid reports it processed before its send was recorded; recorded as sent, "
                 "not to be sent again", nid)


async def sendgrid_inbound(request: web.Request) -> web.Response:
    """SendGrid Inbound Parse: a customer's reply by email, signed by the Parse security policy's key."""
    from tracker.web.common import DAEMON

    daemon = request.app[DAEMON]
    cfg = daemon.settings.conversations
    raw = bytearray()
    while chunk := await request.content.read(65536):  # past the app's 1 MB: SendGrid posts up to 30 MB
        raw += chunk
        if len(raw) > PARSE_MAX_BYTES:
            return web.Response(status=413, text=f"larger than {PARSE_MAX_BYTES} bytes")
    raw = bytes(raw)
    if not cfg.enabled or not _sendgrid_ok(daemon, cfg.parse_public_key, cfg.parse_max_age_seconds, raw,
                                           request.headers.get(SIG_HEADER, ""), request.headers.get(TS_HEADER, "")):
        log.warning("rejected an Inbound Parse request with a bad or stale signature (conversations.parse_public_key)")
        return web.Response(status=403, text="bad signature")
    try:
        inbound = email_in.parse(raw, request.headers.get("Content-Type", ""))
    except email_in.ParseError as exc:
        log.warning("Inbound Parse request refused: %s: %s", exc.field, exc.problem)
        return web.Response(status=400, text=f"{exc.field}: {exc.problem}")
    now = daemon.clock.now()
    async with sessionmaker(daemon.engine)() as session, session.begin():
        if not await _first_time(session, daemon.engine, "sendgrid-inbound", inbound.provider_id or "", now):
            return web.Response(status=200, text="already received")
        received = await receive(session, daemon.engine, daemon.settings, now, inbound)
    if received.queued:
        daemon.wake_dispatcher()
    return web.Response(status=200, text="stored")


def add_messaging_routes(app: web.Application) -> None:
    app.router.add_post(TWILIO_STATUS, twilio_status)
    app.router.add_post(TWILIO_INBOUND, twilio_inbound)
    app.router.add_post(SENDGRID_EVENTS, sendgrid_events)
    app.router.add_post(SENDGRID_INBOUND, sendgrid_inbound)
