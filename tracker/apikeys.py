"""API keys (bearer tokens for /api/v1) and support passwords.

A key is `trk_` + 43 random url-safe characters (256 bits). Only its SHA-256 is stored: a salted slow
hash buys nothing for a token of that entropy, and a plain digest lets every request find its key by an
index lookup. The key itself is printed once, at creation.

Support passwords (config `support.users`) are stored as `scrypt$N$r$p$salt$hash` (stdlib hashlib.scrypt);
`tracker support hash-password` makes one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tracker.db import sessionmaker
from tracker.models import ApiKey

KEY_PREFIX = "trk_"


class KeyError_(ValueError):
    """A key command cannot be done; the message says why and what to do."""


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


async def create_key(engine: AsyncEngine, name: str, now: datetime) -> str:
    name = name.strip()
    if not name or len(name) > 64:
        raise KeyError_("name: give a name of 1 to 64 characters, for example the shop or system using the key")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    async with sessionmaker(engine)() as session, session.begin():
        if (await session.execute(select(ApiKey).where(ApiKey.name == name))).scalar_one_or_none():
            raise KeyError_(f"name: a key named {name!r} already exists. Fix: choose another name, "
                            f"or revoke it first (tracker apikey revoke {name})")
        session.add(ApiKey(name=name, key_hash=digest(key), prefix=key[:8], created_at=now))
    return key


async def revoke_key(engine: AsyncEngine, name: str, now: datetime) -> bool:
    """Revoke the key named `name`; the row stays (for the record) under a freed name."""
    async with sessionmaker(engine)() as session, session.begin():
        row = (await session.execute(select(ApiKey).where(ApiKey.name == name,
                                                          ApiKey.revoked_at.is_(None)))).scalar_one_or_none()
        if row is None:
            return False
        row.revoked_at = now
        row.name = f"{name[:40]}~revoked~{row.id}"
    return True


async def is_live(engine: AsyncEngine, name: str) -> bool:
    async with sessionmaker(engine)() as session:
        return (await session.execute(select(ApiKey.id).where(ApiKey.name == name, ApiKey.revoked_at.is_(None)))
                ).first() is not None


async def list_keys(engine: AsyncEngine) -> list[ApiKey]:
    async with sessionmaker(engine)() as session:
        return list((await session.execute(select(ApiKey).order_by(ApiKey.id))).scalars())


async def check_key(engine: AsyncEngine, key: str, now: datetime) -> str | None:
    """The name of the live key `key`, or None."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    async with sessionmaker(engine)() as session, session.begin():
        row = (await session.execute(select(ApiKey).where(ApiKey.key_hash == digest(key),
                                                          ApiKey.revoked_at.is_(None)))).scalar_one_or_none()
        if row is None:
            return None
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
            await session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
        return row.name


# --- support passwords -----------------------------------------------------------------------------

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    dk = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"scrypt${_N}${_R}${_P}${b64(salt)}${b64(dk)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, want = stored.split("$")
        if scheme != "scrypt":
            return False
        n, r, p = int(n), int(r), int(p)
        if n > 2**20 or r > 32 or p > 16:
            return False
        got = hashlib.scrypt(password.encode("utf-8", "surrogatepass"), salt=base64.b64decode(salt),
                             n=n, r=r, p=p, dklen=len(base64.b64decode(want)), maxmem=256 * 1024 * 1024)
        return hmac.compare_digest(got, base64.b64decode(want))
    except (ValueError, TypeError):
        return False
