"""Shipments follow the routes of the config they are running under.

A shipment stores the source that tells us about it (tracker/routing.py), chosen when it was registered.
When the shop changes `sources.routes` / `sources.default`, or adds or removes a carrier module, the
unfinished shipments still on the old source are moved at start-up: to the source the config now names,
checked at once there (so the customer's next news comes from the new source without a gap), their
pushes at the old source stopped (the subscriber unsubscribes them there when that source is still
configured). Shipments whose carrier no running source serves are left where they are and one support
alert says how many and what to configure. `plan()` is pure; `apply()` does one short transaction per move,
and scans the shipments only when the routes differ from the ones it last applied (their fingerprint is kept
in `app_secrets`): shipments registered since were routed by the same config, so nothing else can be due.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import func, select, update

from tracker import alerts
from tracker.config import Settings
from tracker.db import insert_ignore, sessionmaker, write_lock
from tracker.models import AppSecret, Shipment, SourceSubscription
from tracker.poller import FINISHED
from tracker.routing import source_for

log = logging.getLogger("tracker.reroute")

MARK = "routes_applied"


@dataclass(frozen=True, slots=True)
class Move:
    carrier: str
    old: str
    new: str | None  # None: no source serves this carrier any more
    count: int


def fingerprint(settings: Settings, running: set[str]) -> str:
    """What routing depends on (tracker/routing.py): routes, default, configured and running modules."""
    src = settings.sources
    return hashlib.sha256(json.dumps([src.routes, src.default, sorted(settings.carriers), sorted(running)],
                                     sort_keys=True).encode()).hexdigest()


def plan(pairs: dict[tuple[str, str], int], settings: Settings, running: set[str]) -> list[Move]:
    """Pure: (carrier, stored source) -> shipment count, the config, and the sources this daemon runs ->
    the moves to make. A shipment stays where it is while its source still runs and the config names no
    other; it is never moved to a source that does not run (disabled), only reported."""
    moves = []
    for (carrier, old), count in sorted(pairs.items()):
        new = source_for(settings, carrier)
        if new == old and old in running:
            continue
        if new is not None and new != old and new in running:
            moves.append(Move(carrier, old, new, count))
        elif old not in running:
            moves.append(Move(carrier, old, None, count))
    return moves


async def apply(engine, settings: Settings, running: set[str], pushing: set[str], now: datetime) -> list[Move]:
    """Move the unfinished shipments the config now routes elsewhere; returns what was planned."""
    S, Sub = Shipment, SourceSubscription
    active = sa.and_(S.status.not_in(list(FINISHED)), S.stopped_at.is_(None))
    maker = sessionmaker(engine)
    mark = fingerprint(settings, running)
    async with maker() as session:
        if (await session.execute(select(AppSecret.value).where(AppSecret.name == MARK))).scalar() == mark:
            return []
        pairs = {(c, s): n for c, s, n in await session.execute(
            select(S.carrier, S.source, func.count()).where(active).group_by(S.carrier, S.source))}
    moves = plan(pairs, settings, running)
    for m in moves:
        if m.new is None:
            log.warning("%d unfinished %s shipment(s) are on source %s, which is not running, and no other "
                        "source serves %s: they are not tracked", m.count, m.carrier, m.old, m.carrier)
            async with write_lock(engine), maker() as session, session.begin():
                await alerts.raise_alert(
                    session, key=f"route:{m.carrier}:{m.old}", cause="no_source", carrier=m.carrier, now=now,
                    message=f"{m.count} unfinished {m.carrier} shipment(s) were registered through {m.old}, which "
                            f"is not configured (or not enabled) any more, and no other source serves {m.carrier}: "
                            f"they are not tracked. Configure carriers.{m.old} again, or route the carrier (sources.routes or "
                            f"sources.default); they move at the next start.")
            continue
        ids = select(S.id).where(active, S.carrier == m.carrier, S.source == m.old)
        async with write_lock(engine), maker() as session, session.begin():
            moved = list((await session.execute(ids)).scalars())
            if not moved:
                continue
            for i in range(0, len(moved), 500):
                chunk = moved[i:i + 500]
                # pushes at the old source: stopped there when it still runs, else simply ended
                await session.execute(update(Sub).where(
                    Sub.shipment_id.in_(chunk), Sub.source == m.old, Sub.state.in_(["pending", "active"]))
                    .values(state="stopping" if m.old in pushing else "stopped", next_try_at=now,
                            error=f"moved to {m.new}", updated_at=now)
                    .execution_options(synchronize_session=False))
                # coming back to a source it once left: register it there again
                await session.execute(update(Sub).where(
                    Sub.shipment_id.in_(chunk), Sub.source == m.new, Sub.state.in_(["stopping", "stopped"]))
                    .values(state="pending", attempts=0, error=None, next_try_at=now, expires_at=None,
                            updated_at=now)
                    .execution_options(synchronize_session=False))
                await session.execute(update(S).where(S.id.in_(chunk)).values(
                    source=m.new, push_heard_at=None, updated_at=now,
                    next_check_at=sa.case((S.next_check_at.is_(None), None), else_=now))
                    .execution_options(synchronize_session=False))
        log.info("%d unfinished %s shipment(s) moved from source %s to %s (config sources:); checked there now",
                 len(moved), m.carrier, m.old, m.new)
    async with write_lock(engine), maker() as session, session.begin():
        await session.execute(insert_ignore(engine, AppSecret.__table__, [dict(
            name=MARK, value=mark, created_at=now)], ["name"]))
        await session.execute(update(AppSecret).where(AppSecret.name == MARK).values(value=mark, created_at=now))
    return moves
