"""The customer's choices: signed links to the preferences page and to one-click unsubscribe, and the
history of every change (shown to support in `tracker status` and on the console's order page).

A link carries its expiry and an HMAC-SHA256 (key: preferences.secret, else a key made once per
database) over what it allows: `prefs|<shipment token>|<expiry>` for the page, `unsub|<token>|<channel>|
<expiry>` for one-click unsubscribe. Nobody without the link can change anything, and an old link stops
working at its expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from tracker.db import insert_ignore
from tracker.models import AppSecret, PreferenceChange

SECRET_NAME = "preferences"
LANGUAGES = ("en", "pt-BR", "es", "el")

# Suppressions the customer made here, which the preferences form may lift again. Every other one stays:
# a bounce, a spam report, a SendGrid unsubscribe (SendGrid keeps dropping mail to that address), a dead
# number, and an SMS STOP (Twilio blocks the number until it replies START, which lifts ours too).
OWN_OPT_OUTS = frozenset({"preferences page", "one-click unsubscribe"})


def liftable(channel: str, reason: str) -> bool:
    """May the customer's own tick on the preferences form lift this suppression? A WhatsApp STOP is
    theirs alone (nobody else enforces it); see OWN_OPT_OUTS for the rest."""
    return reason in OWN_OPT_OUTS or (channel == "whatsapp" and reason == "replied STOP")


def lifted_by(channel: str, reason: str) -> str:
    """What a suppression the form cannot lift waits for: "start" (the customer replies START) or "shop"."""
    return "start" if channel == "sms" and reason == "replied STOP" else "shop"


def sign(secret: str, *parts: str | int) -> str:
    mac = hmac.new(secret.encode(), "|".join(str(p) for p in parts).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode().rstrip("=")


def verify(secret: str, sig: str, expires: str, now: datetime, *parts: str | int) -> bool:
    """The signature matches (constant time) and the link has not expired."""
    try:
        until = int(expires)
    except (TypeError, ValueError):
        return False
    return (bool(secret) and until >= now.timestamp()
            and hmac.compare_digest(sign(secret, *parts, until), sig or ""))


def page_query(secret: str, token: str, now: datetime, days: float) -> str:
    until = int(now.timestamp() + days * 86400)
    return f"x={until}&s={sign(secret, 'prefs', token, until)}"


def unsubscribe_url(base: str, secret: str, token: str, channel: str, now: datetime, days: float) -> str:
    until = int(now.timestamp() + days * 86400)
    return f"{base.rstrip('/')}/u/{token}/{channel}?x={until}&s={sign(secret, 'unsub', token, channel, until)}"


async def database_secret(session, engine, now: datetime) -> str:
    """The signing key kept in the database (made on first use, the same for every daemon on it)."""
    await session.execute(insert_ignore(engine, AppSecret.__table__, [dict(
        name=SECRET_NAME, value=secrets.token_urlsafe(32), created_at=now)], ["name"]))
    return (await session.execute(select(AppSecret.value).where(AppSecret.name == SECRET_NAME))).scalar_one()


async def record(session, order_ids: Iterable[int | None], source: str, change: str, now: datetime) -> None:
    """Keep a change for support; one row per order concerned (a STOP reply concerns every order of
    that phone). Without an order (an unknown sender) it is kept once, unattached."""
    ids = list(dict.fromkeys(order_ids)) or [None]
    for order_id in ids:
        session.add(PreferenceChange(order_id=order_id, source=source[:32], change=change, created_at=now))
