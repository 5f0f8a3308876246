"""Who may try to log in to the support console, and which sessions were ended, kept in the database so
it holds across daemons and restarts.

Attempts are counted per user name and source address, *before* the password is checked, in one
atomic upsert: of any number of attempts in flight, at most MAX_PER_PLACE are checked per window.
A second counter per user name from anywhere (source "*") stops an attacker spreading guesses over many
addresses, except from the user's usual places (where they logged in within USUAL_DAYS), so a locked-out
user can still log in from there. Nothing is ever reset globally; old rows are pruned one by one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tracker.db import is_sqlite, sessionmaker, write_lock
from tracker.models import SupportLoginThrottle, SupportSessionRevoked

MAX_PER_PLACE = 10  # attempts per user name and source address per window
MAX_PER_USER = 50  # attempts per user name from places that are not the user's usual ones
WINDOW = timedelta(minutes=15)
USUAL_DAYS = 30
ANYWHERE = "*"


async def _bump(session, engine, user: str, source: str, now: datetime):
    T = SupportLoginThrottle.__table__
    insert = (sqlite if is_sqlite(engine) else postgresql).insert(T)
    stale = T.c.window_start <= now - WINDOW
    stmt = insert.values(user=user, source=source, attempts=1, window_start=now).on_conflict_do_update(
        index_elements=["user", "source"],
        set_={"attempts": case((stale, 1), else_=T.c.attempts + 1),
              "window_start": case((stale, now), else_=T.c.window_start)},
    ).returning(T.c.attempts, T.c.last_success_at)
    return (await session.execute(stmt)).one()


async def reserve_attempt(engine, user: str, source: str, now: datetime) -> bool:
    """Count one login attempt for (user, source). False: too many, refuse without checking the password."""
    user, source = user[:64], (source or "unknown")[:64]
    T = SupportLoginThrottle
    async with write_lock(engine), sessionmaker(engine)() as session, session.begin():
        await session.execute(delete(T).where(
            T.window_start <= now - WINDOW,
            or_(T.last_success_at.is_(None), T.last_success_at <= now - timedelta(days=USUAL_DAYS))))
        here, last_success = await _bump(session, engine, user, source, now)
        anywhere, _ = await _bump(session, engine, user, ANYWHERE, now)
    usual = last_success is not None and last_success > now - timedelta(days=USUAL_DAYS)
    return here <= MAX_PER_PLACE and (usual or anywhere <= MAX_PER_USER)


async def logged_in(engine, user: str, source: str, now: datetime) -> None:
    """A right password: this place's count starts again and it becomes one of the user's usual places."""
    T = SupportLoginThrottle
    async with write_lock(engine), sessionmaker(engine)() as session, session.begin():
        await session.execute(update(T).where(T.user == user[:64], T.source == (source or "unknown")[:64])
                              .values(attempts=0, last_success_at=now))


async def revoke_session(engine, sid: str, expires_at: datetime, now: datetime) -> None:
    R = SupportSessionRevoked
    async with write_lock(engine), sessionmaker(engine)() as session, session.begin():
        await session.execute(delete(R).where(R.expires_at < now))
        insert = (sqlite if is_sqlite(engine) else postgresql).insert(R.__table__)
        await session.execute(insert.values(sid=sid[:64], expires_at=expires_at).on_conflict_do_nothing())


async def is_revoked(engine, sid: str) -> bool:
    async with sessionmaker(engine)() as session:
        return (await session.execute(
            select(SupportSessionRevoked.sid).where(SupportSessionRevoked.sid == sid[:64]))).first() is not None
