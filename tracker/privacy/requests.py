"""Access and erasure requests about one person, and Shopify's privacy webhooks, each recorded for audit.

A person is named by an email address or a phone number (read as an order's would be: E.164, numbers
without +country in shop.default_region). Their orders are those whose email (case aside) or phone is that.

Audit (privacy_requests): kind, how it came (cli, or the Shopify topic), who asked (the operator's user
name, or the shop's domain), when it came and was done, the platform's own ids (Shopify customer and data
request ids: no contact data), the state and what was done, counted. The person is kept only as
HMAC-SHA256(key, normalized email or phone), the key made once per database (app_secrets "privacy"): the
record proves that a request about a given address was handled (compute the hash again to check) without
keeping the address the erasure removed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update

from tracker import alerts, redact
from tracker.config import Settings
from tracker.db import insert_ignore, sessionmaker
from tracker.models import AppSecret, Order, PrivacyRequest
from tracker.orders import InputError, normalize_email, normalize_phone
from tracker.privacy import parts
from tracker.privacy.parts import Subject

KEY_NAME = "privacy"
SHOP_BATCH = 1000  # orders erased per transaction by shop/redact


@dataclass
class Person:
    field: str  # "email" | "phone"
    value: str  # normalized

    @property
    def shown(self) -> str:
        return redact.email(self.value) if self.field == "email" else redact.phone(self.value)


@dataclass
class Outcome:
    request_id: int
    orders: list[str] = field(default_factory=list)  # order numbers
    erased: dict[str, int] = field(default_factory=dict)
    data: dict[str, Any] | None = None  # an export


def person(text: str, settings: Settings) -> Person:
    """An email or a phone number as given on the command line or in a webhook; InputError if neither."""
    raw = (text or "").strip()
    if not raw:
        raise InputError("person", "is empty", "give the person's email address or phone number")
    if "@" in raw:
        return Person("email", normalize_email(raw))
    return Person("phone", normalize_phone(raw, settings.shop.default_region))


async def _key(session, engine, now: datetime) -> str:
    await session.execute(insert_ignore(engine, AppSecret.__table__, [dict(
        name=KEY_NAME, value=secrets.token_urlsafe(32), created_at=now)], ["name"]))
    return (await session.execute(select(AppSecret.value).where(AppSecret.name == KEY_NAME))).scalar_one()


def subject_hash(key: str, who: Person) -> str:
    return hmac.new(key.encode(), f"{who.field}:{who.value.lower()}".encode(), hashlib.sha256).hexdigest()


async def _orders_of(session, people: list[Person]) -> list[tuple[int, str]]:
    emails = [p.value.lower() for p in people if p.field == "email"]
    phones = [p.value for p in people if p.field == "phone"]
    conditions = ([func.lower(Order.email).in_(emails)] if emails else []) + ([Order.phone.in_(phones)] if phones else [])
    if not conditions:
        return []
    return list(await session.execute(select(Order.id, Order.number).where(or_(*conditions)).order_by(Order.id)))


def _subject(rows: list[tuple[int, str]], people: list[Person]) -> Subject:
    return Subject(tuple(oid for oid, _ in rows), tuple(p.value for p in people if p.field == "email"),
                   tuple(p.value for p in people if p.field == "phone"))


def result_text(erased: dict[str, int]) -> str:
    labels = {p.name: p.erased for p in parts.PARTS if p.erase is not None}
    return "; ".join(f"{labels[name]}: {n}" for name, n in erased.items() if n) or "nothing held"


async def _record(session, engine, now: datetime, *, kind: str, via: str, by: str, people: list[Person],
                  state: str, orders: int, result: str, reference: str | None = None) -> int:
    key = await _key(session, engine, now)
    row = PrivacyRequest(kind=kind, via=via[:64], requested_by=(by or "unknown")[:64],
                         subject_hash=subject_hash(key, people[0]) if people else None,
                         reference=reference[:128] if reference else None, state=state, orders=orders,
                         result=result[:1000], requested_at=now, completed_at=now if state != "to_answer" else None)
    session.add(row)
    await session.flush()
    return row.id


async def export_person(engine, settings: Settings, who: Person, now: datetime, *, by: str, via: str = "cli") -> Outcome:
    """Everything tracker holds of `who` (tracker/privacy/parts.py), and the request recorded. A Shopify
    data request about the same person waiting to be answered is answered by it."""
    async with sessionmaker(engine)() as session, session.begin():
        rows = await _orders_of(session, [who])
        data = await parts.export(session, _subject(rows, [who]))
        key = await _key(session, engine, now)
        digest = subject_hash(key, who)
        answered = await session.execute(update(PrivacyRequest).where(
            PrivacyRequest.kind == "data_request", PrivacyRequest.state == "to_answer",
            PrivacyRequest.subject_hash == digest).values(state="done", completed_at=now,
                                                          result=f"exported by {by}"[:1000]))
        note = f"; answers {answered.rowcount} Shopify data request(s)" if answered.rowcount else ""
        rid = await _record(session, engine, now, kind="export", via=via, by=by, people=[who],
                            state="done" if rows else "nothing_found", orders=len(rows),
                            result=f"{len(rows)} orders exported{note}")
    body = {"subject": {who.field: who.value}, "generated_at": now.isoformat(), "shop": settings.shop.name,
            "request": rid, **data}
    return Outcome(rid, [n for _, n in rows], data=body)


async def erase_people(engine, settings: Settings, people: list[Person], now: datetime, *, by: str, via: str = "cli",
                       reference: str | None = None) -> Outcome:
    """Erase what names or reaches these identifiers of one person (all in one transaction), keep the
    anonymous history, and record the request."""
    async with sessionmaker(engine)() as session, session.begin():
        rows = await _orders_of(session, people)
        # with no order too: a person may have written to us (conversations) without one
        erased = await parts.erase(session, _subject(rows, people), now)
        rid = await _record(session, engine, now, kind="erase", via=via, by=by, people=people,
                            state="done" if rows or any(erased.values()) else "nothing_found", orders=len(rows),
                            result=result_text(erased),
                            reference=reference)
    return Outcome(rid, [n for _, n in rows], erased)


async def data_request(engine, settings: Settings, people: list[Person], now: datetime, *, shop: str,
                       customer_id: str, request_id: str) -> Outcome:
    """Shopify's customers/data_request: the store owner must be given the data. Recorded as to be answered,
    with a support alert saying how (an export of the customer's email); no contact data in the alert."""
    async with sessionmaker(engine)() as session, session.begin():
        rows = await _orders_of(session, people)
        reference = f"customer {customer_id}, data request {request_id}"
        rid = await _record(session, engine, now, kind="data_request", via="shopify customers/data_request", by=shop,
                            people=people, state="to_answer" if rows else "nothing_found", orders=len(rows),
                            result="" if rows else "tracker holds no order of this customer", reference=reference)
        if rows:
            await alerts.raise_alert(
                session, key=f"privacy:{rid}", cause="privacy_request", now=now,
                message=f"Shopify asks for the data tracker holds on customer {customer_id} (data request "
                        f"{request_id}, privacy request #{rid}; {len(rows)} orders, e.g. {rows[0][1]}): run "
                        f"`tracker privacy export <that customer's email> --out FILE` and give the file to the "
                        f"store owner within 30 days.")
    return Outcome(rid, [n for _, n in rows])


async def erase_shop(engine, settings: Settings, now: datetime, *, shop: str) -> Outcome:
    """Shopify's shop/redact (48 hours after the app was uninstalled): every order's personal data, in
    batches, each its own transaction (a redelivery carries on where it stopped)."""
    total: dict[str, int] = {}
    numbers = 0
    while True:
        async with sessionmaker(engine)() as session, session.begin():
            ids = [oid for (oid,) in await session.execute(
                select(Order.id).where(or_(Order.erased_at.is_(None), Order.email.is_not(None),
                                           Order.phone.is_not(None))).order_by(Order.id).limit(SHOP_BATCH))]
            if not ids:
                break
            for name, n in (await parts.erase(session, Subject(tuple(ids)), now)).items():
                total[name] = total.get(name, 0) + n
            numbers += len(ids)
    async with sessionmaker(engine)() as session, session.begin():
        rid = await _record(session, engine, now, kind="shop_erase", via="shopify shop/redact", by=shop, people=[],
                            state="done", orders=numbers, result=result_text(total))
    return Outcome(rid, [], total)


async def list_requests(engine, limit: int = 100) -> list[PrivacyRequest]:
    async with sessionmaker(engine)() as session:
        return list((await session.execute(select(PrivacyRequest).order_by(PrivacyRequest.id.desc())
                                           .limit(limit))).scalars())


async def counts(engine) -> dict[tuple[str, str], int]:
    """Requests by (kind, state), for /metrics (a small table: one grouped count)."""
    async with sessionmaker(engine)() as session:
        return {(k, st): n for k, st, n in await session.execute(
            select(PrivacyRequest.kind, PrivacyRequest.state, func.count()).group_by(
                PrivacyRequest.kind, PrivacyRequest.state))}


def kept_note() -> str:
    return "; ".join(p.kept for p in parts.PARTS if p.kept)
