"""Register what shop deliveries ask for, each under its version, in one transaction.

Webhooks (one delivery) and the backfill of `connect` (a page of orders) go through `apply()`: every
version is claimed (ShopResource / WebhookEvent), the items of the states not seen before are validated
(validate_item) and registered with orders.register_batch(), and the shop's order status URLs are kept,
all in one transaction. A state already applied, or older than one applied, registers nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.exc import IntegrityError

from tracker import redact
from tracker.bulk import carriers_of, register_batch, validate_item
from tracker.config import Settings
from tracker.db import sessionmaker
from tracker.models import Order
from tracker.orders import InputError, Outcome, Registration
from tracker.shops import untracked
from tracker.shops.versions import Version, claim_many


@dataclass
class Delivery:
    """One state of one shop resource and what it asks to register."""

    version: Version
    items: list[dict[str, Any]]
    status_url: str | None = None  # the shop's order status page of these items' order


@dataclass
class Applied:
    seen: dict[int, str] = field(default_factory=dict)  # delivery index -> "duplicate" | "stale"
    outcomes: list[tuple[int, Registration, Outcome]] = field(default_factory=list)  # (delivery index, ...)
    rejected: list[tuple[int, dict[str, Any], InputError]] = field(default_factory=list)

    @property
    def created(self) -> int:
        return sum(1 for _, _, o in self.outcomes if o.error is None and o.created)


def registration(settings: Settings, item: dict[str, Any], carriers=None) -> Registration:
    """validate_item(). A contact detail the shop got wrong (a phone in no plan of the customer's country)
    is left out when the other one is good: the order goes on with the channels that work, and the reason
    is kept on the order (masked) for support and /metrics. A shop retrying would not fix it."""
    try:
        return validate_item(settings, item, carriers=carriers, untrackable=True)
    except InputError as exc:
        other = {"phone": "email", "email": "phone"}.get(exc.field)
        if other and item.get(other) and item.get(exc.field):
            reg = validate_item(settings, {**item, exc.field: None}, carriers=carriers, untrackable=True)
            raw = str(item[exc.field])
            masked = redact.email(raw) if exc.field == "email" else redact.phone(re.sub(r"[^\d+]", "", raw))
            said = redact.text(exc.problem.replace(repr(raw), repr(masked)).replace(repr(raw.strip()), repr(masked)))
            problem = (f"{exc.field} left out: {said}; messages go by {other} only. Fix: "
                       f"ask the customer for a good {exc.field} and register it on the order")
            return replace(reg, contact_problem=problem[:300])
        raise


async def apply(engine, settings: Settings, now: datetime, deliveries: list[Delivery], *,
                load: bool = True, attempts: int = 3) -> Applied:
    """Claim each delivery's version and register the items of those not applied before (one transaction).
    Raises IntegrityError if the same order kept being registered by another writer meanwhile."""
    carriers = carriers_of(settings)
    checked: list[tuple[int, int, Registration]] = []  # (delivery index, item key, registration)
    bad: list[tuple[int, dict[str, Any], InputError]] = []
    for d, delivery in enumerate(deliveries):
        for item in delivery.items:
            try:
                checked.append((d, len(checked), registration(settings, item, carriers)))
            except InputError as exc:
                bad.append((d, item, exc))
    for attempt in range(attempts):
        result = Applied()
        try:
            async with sessionmaker(engine)() as session, session.begin():
                if len(deliveries) == 1:
                    if seen := await deliveries[0].version.claim(engine, session, now):
                        result.seen[0] = seen
                else:
                    result.seen = await claim_many(engine, session, [d.version for d in deliveries], now)
                regs = [(key, reg) for d, key, reg in checked if d not in result.seen]
                outcomes = await register_batch(session, regs, now, load=load,
                                                first_check_seconds=settings.poller.first_check_seconds) if regs else []
                by_index = dict(regs)
                await untracked.announce(session, [by_index[o.index] for o in outcomes
                                                   if o.error is None and o.created and o.index in by_index], now)
                by_key = {key: (d, reg) for d, key, reg in checked}
                result.outcomes = [(by_key[o.index][0], by_key[o.index][1], o) for o in outcomes]
                urls = {reg.order_number: deliveries[d].status_url for d, reg, o in result.outcomes
                        if o.error is None and deliveries[d].status_url}
                if urls:
                    orders = Order.__table__
                    await session.execute(
                        update(orders).where(orders.c.number == bindparam("n")).values(status_url=bindparam("u")),
                        [{"n": n, "u": u} for n, u in urls.items()])
            result.rejected = [b for b in bad if b[0] not in result.seen]
            return result
        except IntegrityError:  # the same order registered by another writer meanwhile: again
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
