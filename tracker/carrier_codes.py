"""Carrier status codes tracker does not know, so a renamed scan is noticed the day it appears; and
problem events whose words map to no detail kind (code `phrase:<hash>`, tracker/wording/details.py), so
support can map what customers only read as the step alone.

Each unknown code is counted per carrier (the source whose reply held it) in `carrier_codes`, shown in
`tracker status --carriers` and /metrics, and raises one support alert when it is first seen. The event
itself is recorded as `unknown` and never announced (tracker/status.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tracker import alerts
from tracker.carriers import CARRIERS
from tracker.db import insert_ignore, sessionmaker
from tracker.models import CarrierCode

TEXT_MAX = 200


def tally(seen: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str], tuple[str, int]]:
    """(carrier, code, text) sightings -> {(carrier, code): (first text, times seen)}."""
    counts: Counter[tuple[str, str]] = Counter()
    texts: dict[tuple[str, str], str] = {}
    for carrier, code, text in seen:
        key = (carrier, (code or "-")[:64])
        counts[key] += 1
        texts.setdefault(key, " ".join((text or "").split())[:TEXT_MAX])
    return {key: (texts[key], n) for key, n in counts.items()}


async def record(session: AsyncSession, seen: Iterable[tuple[str, str, str]], now: datetime) -> list[tuple[str, str]]:
    """Count the sightings in the caller's transaction; alert support once per new code. Returns the new ones."""
    new: list[tuple[str, str]] = []
    for (carrier, code), (text, n) in sorted(tally(seen).items()):
        row = {"carrier": carrier, "code": code, "text": text, "count": 0, "first_seen_at": now, "last_seen_at": now}
        inserted = await session.execute(insert_ignore(session.bind, CarrierCode.__table__, [row],
                                                       ["carrier", "code"]))
        await session.execute(
            update(CarrierCode).where(CarrierCode.carrier == carrier, CarrierCode.code == code)
            .values(count=CarrierCode.count + n, last_seen_at=now).execution_options(synchronize_session=False))
        if inserted.rowcount and code.startswith("phrase:"):
            new.append((carrier, code))
            await alerts.raise_alert(
                session, key=f"carrier_phrase:{carrier}:{code}", cause="unmapped_phrase", carrier=carrier, now=now,
                message=f"{carrier} reported a delivery problem in words tracker cannot explain to customers: "
                        f"{text!r}. Customers read the step alone (\"delivery attempt failed\", \"a problem with "
                        f"the delivery\"). Fix: map the phrase or the event's code to a detail kind in "
                        f"tracker/wording/carrier_details.yaml.")
        elif inserted.rowcount:
            new.append((carrier, code))
            await alerts.raise_alert(
                session, key=f"carrier_code:{carrier}:{code}", cause="unknown_code", carrier=carrier, now=now,
                message=f"{carrier} sent a status code tracker does not know: {code!r}"
                        f"{f' ({text})' if text else ''}. Its scans are recorded as unknown and announced to "
                        f"nobody. Fix: add the code to STATUS_MAP in {_module_file(carrier)}.")
    return new


def _module_file(carrier: str) -> str:
    cls = CARRIERS.get(carrier)
    return cls.__module__.replace(".", "/") + ".py" if cls else "the carrier's module"


async def listing(engine: AsyncEngine) -> list[CarrierCode]:
    async with sessionmaker(engine)() as session:
        return list((await session.execute(
            select(CarrierCode).order_by(CarrierCode.carrier, CarrierCode.first_seen_at, CarrierCode.code)
        )).scalars())


async def totals(session: AsyncSession) -> dict[str, tuple[int, int]]:
    """carrier -> (unknown scans counted, distinct unknown codes)."""
    rows = await session.execute(select(CarrierCode.carrier, func.sum(CarrierCode.count), func.count())
                                 .group_by(CarrierCode.carrier))
    return {carrier: (int(total or 0), int(kinds)) for carrier, total, kinds in rows}


def story_lines(rows: Iterable[CarrierCode]) -> list[str]:
    """The `tracker status --carriers` section: code, text, first seen, count."""
    rows = list(rows)
    if not rows:
        return ["", "unknown carrier codes: none"]
    out = ["", ("unknown carrier codes (recorded as unknown, announced to nobody; map them in the carrier's "
                "STATUS_MAP) and unmapped problem phrases (phrase:..., customers read the step alone; map them "
                "in tracker/wording/carrier_details.yaml):"),
           f"{'carrier':<12} {'code':<16} {'count':>6}  {'first seen (UTC)':<17} text"]
    for r in rows:
        out.append(f"{r.carrier:<12} {r.code:<16} {r.count:>6}  {r.first_seen_at:%Y-%m-%d %H:%M}  {r.text}")
    return out
