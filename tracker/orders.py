"""Registering orders and shipments: validation (pure) and an idempotent upsert.

Every intake (CLI, HTTP API, CSV, shop webhooks) goes through `validate()` then `register()`, so bad
input is refused the same way everywhere: one `InputError` naming the field and the fix, nothing written.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tracker.carriers.catalog import AUTO, canonical
from tracker.carriers.detect import Undetected, choose
from tracker.models import Order, Shipment

LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")
CHANNELS = ("whatsapp", "sms", "email")


class InputError(ValueError):
    def __init__(self, field: str, problem: str, fix: str) -> None:
        super().__init__(f"{field}: {problem}. Fix: {fix}.")
        self.field, self.problem, self.fix = field, problem, fix


@dataclass(frozen=True, slots=True)
class Registration:
    order_number: str
    carrier: str
    tracking_number: str
    email: str | None
    phone: str | None
    locale: str
    timezone: str | None
    channels: tuple[str, ...]
    source: str = ""  # who tells us about it (tracker/routing.py); "" = the carrier's own module
    first_check_seconds: float | None = None  # a pushed shipment's first poll is only a safety check


def normalize_phone(raw: str, region: str) -> str:
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise InputError("phone", f"{raw!r} is not a valid phone number",
                         "give it in international form, for example +14155550123")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InputError("email", f"{raw!r} is not a valid email address ({exc})",
                         "give an address such as name@example.com") from None


def validate(*, order_number: str | None, carrier: str | None, tracking_number: str | None,
             email: str | None = None, phone: str | None = None, locale: str | None = None,
             timezone: str | None = None, channels: list[str] | str | None = None,
             known_carriers: list[str], default_locale: str = "en", default_channels: list[str] | None = None,
             default_region: str = "US", route: Callable[[str], tuple[str, float | None] | None] | None = None) -> Registration:
    """Check and normalize one registration. Raises InputError on the first bad field."""
    number = (order_number or "").strip()
    if not number:
        raise InputError("order_number", "is empty", "give the shop's order number, for example ORDER-1001")
    if len(number) > 64:
        raise InputError("order_number", "is longer than 64 characters", "shorten it")
    tracking = re.sub(r"\s+", "", tracking_number or "").upper()
    if not tracking:  # registered before shipping: the first parcel comes later
        if (carrier or "").strip():
            raise InputError("tracking_number", f"is empty but carrier {carrier.strip()[:32]!r} is given",
                             "give the parcel's tracking number, or leave both out until the order ships")
        source, first_check = "", None
    elif len(tracking) > 64 or not re.fullmatch(r"[A-Z0-9\-_.]+", tracking):
        raise InputError("tracking_number", f"{tracking_number!r} is not a tracking number",
                         "use the letters and digits printed on the label")
    else:
        carrier, source, first_check = _carrier_and_source(tracking, carrier, known_carriers, route)
    email_n = normalize_email(email.strip()) if email and email.strip() else None
    phone_n = normalize_phone(phone.strip(), default_region) if phone and phone.strip() else None
    if not email_n and not phone_n:
        raise InputError("email", "no email and no phone given", "give at least one, so the customer hears about the parcel")
    loc = (locale or default_locale).strip().replace("_", "-")
    if not LOCALE.match(loc):
        raise InputError("locale", f"{locale!r} is not a language tag", "use a tag such as en, pt-BR, es or el")
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InputError("timezone", f"unknown time zone {timezone!r}",
                             "use an IANA name such as America/Sao_Paulo") from None
    explicit = channels is not None and channels != ""
    if isinstance(channels, str):
        channels = [c.strip() for c in channels.split(",") if c.strip()]
    wanted = list(channels) if explicit else list(default_channels or CHANNELS)
    for c in wanted:
        if c not in CHANNELS:
            raise InputError("channels", f"unknown channel {c!r}",
                             "use sms, email, whatsapp or several (sms,email or whatsapp,email)")
    if explicit:
        if "sms" in wanted and not phone_n:
            raise InputError("phone", "the sms channel was asked for but no phone was given", "add --phone or drop sms")
        if "whatsapp" in wanted and not phone_n:
            raise InputError("phone", "the whatsapp channel was asked for but no phone was given",
                             "add --phone or drop whatsapp")
        if "email" in wanted and not email_n:
            raise InputError("email", "the email channel was asked for but no email was given",
                             "add --email or drop email")
    return Registration(number, carrier or "", tracking, email_n, phone_n, loc, timezone or None,
                        tuple(dict.fromkeys(wanted)), source, first_check)


def _carrier_and_source(tracking: str, carrier: str | None, known_carriers: list[str],
                        route: Callable[[str], tuple[str, float | None] | None] | None) -> tuple[str, str, float | None]:
    carrier = (carrier or "").strip().lower()
    if not carrier:
        try:
            carrier = choose(tracking, known_carriers)
        except Undetected as exc:
            if exc.candidates or AUTO not in known_carriers:
                raise InputError("carrier", exc.problem, exc.fix) from None
            carrier = AUTO  # the default source (an aggregator) detects it
    if route is not None:
        carrier = canonical(carrier)  # "ACS Courier", "correos" -> acs, correos-es
    if carrier not in known_carriers:
        raise InputError("carrier", f"unknown carrier {carrier!r}", f"use one of {', '.join(known_carriers)}")
    source, first_check = carrier, None
    if route is not None:
        source, first_check = route(carrier) or ("", None)
        if not source:
            raise InputError("carrier", f"no tracking source serves {carrier!r}",
                             "configure its module under carriers:, or route it (sources.routes / sources.default)")
    return carrier, source, first_check


async def register(session: AsyncSession, reg: Registration, now: datetime, *,
                   first_check_seconds: float = 0) -> tuple[Order, Shipment | None, bool]:
    """Upsert the order (contact data is updated) and its shipment (idempotent on carrier + number).

    Returns (order, shipment, created). Without a tracking number only the order is upserted (it waits
    to ship): shipment is None and created says whether the order is new. Raises InputError when the
    tracking number already belongs to another order, or is new on an order already delivered. The
    caller's transaction decides whether anything is written.
    """
    from datetime import timedelta

    order = (await session.execute(select(Order).where(Order.number == reg.order_number))).scalar_one_or_none()
    new_order = order is None
    if order is None:
        order = Order(number=reg.order_number, created_at=now)
        session.add(order)
    order.email, order.phone, order.locale = reg.email, reg.phone, reg.locale
    order.timezone, order.channels = reg.timezone, ",".join(reg.channels)
    await session.flush()
    if not reg.tracking_number:
        return order, None, new_order
    ship = (await session.execute(select(Shipment).where(
        Shipment.carrier == reg.carrier, Shipment.tracking_number == reg.tracking_number))).scalar_one_or_none()
    if ship is not None:
        if ship.order_id != order.id:
            other = await session.get(Order, ship.order_id)
            raise InputError("tracking_number", f"{reg.tracking_number} is already registered for order "
                             f"{other.number if other else ship.order_id}", "check the number, or register it on that order")
        return order, ship, False
    if not new_order:
        statuses = [st for (st,) in await session.execute(select(Shipment.status).where(Shipment.order_id == order.id))]
        if statuses and all(st == "delivered" for st in statuses):
            raise InputError("tracking_number", f"order {order.number} is already delivered, so no parcel can be "
                             f"added to it", "register the parcel on a new order number (a replacement or return)")
    ship = Shipment(
        order_id=order.id, carrier=reg.carrier, source=reg.source or reg.carrier,
        tracking_number=reg.tracking_number, status="pending",
        next_check_at=now + timedelta(seconds=first_check_seconds if reg.first_check_seconds is None
                                      else reg.first_check_seconds), public_token=secrets.token_urlsafe(24),
        created_at=now, updated_at=now,
    )
    session.add(ship)
    await session.flush()
    return order, ship, True
