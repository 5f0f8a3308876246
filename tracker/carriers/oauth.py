"""What the real carriers share: one HTTP call mapped to typed errors, and a cached bearer token.

`call()` turns the transport's failures into the contract's errors so carrier modules only read bodies:
timeouts, connection errors and 5xx -> Temporary; 429 -> RateLimited(Retry-After); a body that is not
JSON (an HTML error page, garbage) -> Temporary. Every other status comes back with its decoded body.

`TokenCache` holds one OAuth client-credentials token (UPS, FedEx, USPS) or Correios' token, until a
minute before it expires on the carrier's clock. `authorized()` retries once with a fresh token on 401,
then raises AuthFailed.
"""

from __future__ import annotations

import asyncio
import json
from abc import abstractmethod
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from tracker.carriers.base import AuthFailed, Carrier, RateLimited, Temporary
from tracker.clock import SYSTEM, Clock
from tracker.redact import connect_reason, origin
from tracker.retry import retry_after_seconds

Reply = tuple[int, Any]


async def call(session: aiohttp.ClientSession | None, method: str, url: str, *, carrier: str, timeout: float,
               now: datetime, **kwargs: Any) -> Reply:
    """One request. Returns (HTTP status, decoded JSON body or None) or raises a transport-level error."""
    if session is None:
        raise Temporary(f"{carrier}: no HTTP session")
    try:
        async with session.request(method, url, timeout=aiohttp.ClientTimeout(total=timeout), **kwargs) as resp:
            text = await resp.text(errors="replace")
            status = resp.status
            retry_after = retry_after_seconds(resp.headers.get("Retry-After"), now)
    except asyncio.TimeoutError:
        raise Temporary(f"{carrier}: no answer from {origin(url)} within {timeout:g}s") from None
    except aiohttp.ClientError as exc:
        raise Temporary(f"{carrier}: connection to {origin(url)} failed ({connect_reason(exc)})") from None
    if status == 429:
        raise RateLimited(f"{carrier}: too many requests (HTTP 429)", retry_after=retry_after)
    if status >= 500:
        raise Temporary(f"{carrier}: server error HTTP {status}", retry_after=retry_after)
    body: Any = None
    if text.strip():
        try:
            body = json.loads(text)
        except ValueError:
            snippet = " ".join(text[:60].split())
            raise Temporary(f"{carrier}: reply is not JSON (HTTP {status}, starts {snippet!r})") from None
    return status, body


class TokenCache:
    """One bearer token, fetched on demand and kept until shortly before it expires."""

    def __init__(self, fetch: Callable[[], Awaitable[tuple[str, float]]], clock: Clock,
                 margin_seconds: float = 60) -> None:
        self._fetch = fetch
        self._clock = clock
        self._margin = margin_seconds
        self._token: str | None = None
        self._expires: datetime | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def get(self) -> str:
        async with self._lock:
            now = self._clock.now()
            if self._token is None or self._expires is None or now >= self._expires:
                token, lifetime = await self._fetch()
                self.fetches += 1
                self._token = token
                self._expires = now + timedelta(seconds=max(0.0, float(lifetime) - self._margin))
            return self._token

    def invalidate(self, token: str | None = None) -> None:
        """Forget the token (only if it is still `token`, so two failing calls refresh once)."""
        if token is None or token == self._token:
            self._token, self._expires = None, None


async def authorized(tokens: TokenCache, send: Callable[[str], Awaitable[Reply]], *, carrier: str) -> Reply:
    """Send with the cached token; on 401 refresh it once and resend; a second 401 is AuthFailed."""
    token = await tokens.get()
    status, body = await send(token)
    if status != 401:
        return status, body
    tokens.invalidate(token)
    token = await tokens.get()
    status, body = await send(token)
    if status == 401:
        raise AuthFailed(f"{carrier}: the API refused a fresh access token (HTTP 401)")
    return status, body


def token_failure(carrier: str, status: int, body: Any) -> AuthFailed | Temporary:
    """The token endpoint said no: bad credentials are AuthFailed, anything else is worth a retry."""
    detail = ""
    if isinstance(body, dict):
        detail = str(body.get("error_description") or body.get("error") or body.get("msgs") or body.get("message")
                     or "")[:120]
    if status in (400, 401, 403):
        return AuthFailed(f"{carrier}: token request refused (HTTP {status}{', ' + detail if detail else ''}); "
                          f"check the client id and secret")
    return Temporary(f"{carrier}: token request failed (HTTP {status})")


def bearer_token(carrier: str, status: int, body: Any, default_lifetime: float) -> tuple[str, float]:
    """An OAuth client-credentials reply -> (access token, seconds it lives), or the failure to raise."""
    if status != 200 or not isinstance(body, dict) or not body.get("access_token"):
        raise token_failure(carrier, status, body)
    return body["access_token"], token_lifetime(body, default_lifetime)


class TokenCarrier(Carrier):
    """A carrier whose API wants a bearer token from its token endpoint, cached until shortly before expiry."""

    def __init__(self, settings, session=None, clock: Clock = SYSTEM) -> None:
        super().__init__(settings, session, clock)
        self.tokens = TokenCache(self._fetch_token, clock)

    @abstractmethod
    async def _fetch_token(self) -> tuple[str, float]:
        """Ask the token endpoint: (token, lifetime in seconds)."""


def token_lifetime(body: dict[str, Any], default: float) -> float:
    """expires_in as seconds; UPS sends it as a string."""
    try:
        return float(body.get("expires_in", default))
    except (TypeError, ValueError):
        return default
