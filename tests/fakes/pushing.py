"""What the fake push sources share (17TRACK, AfterShip, EasyPost, UPS Track Alert): parcels moved on by
the test one scan at a time, each scan pushed to the daemon's webhook signed like the real service, a
per-second request limit (429 + Retry-After) counted, and injected faults (5xx, malformed bodies)."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import aiohttp
from aiohttp import web

from tests.fakes._base import FakeServer

# Scan kinds a test moves a parcel through; each fake maps them onto its own vocabulary.
KINDS = ("info", "transit", "ofd", "failed", "pickup", "delivered", "exception")
TEXTS = {"info": "Shipping label created", "transit": "In transit", "ofd": "Out for delivery",
         "failed": "Delivery attempted", "pickup": "Available for pickup", "delivered": "Delivered",
         "exception": "Held at customs"}


@dataclass
class Scan:
    when: datetime
    kind: str
    text: str
    location: str = "MADRID, ES"


@dataclass
class Parcel:
    number: str
    carrier: str | None = None  # the fake's carrier code (17TRACK key, AfterShip slug, EasyPost carrier)
    scans: list[Scan] = field(default_factory=list)
    id: str = ""
    stopped: bool = False
    url: str = ""  # where its pushes go (UPS: given at subscription)
    credential: str = ""


class PushFake(FakeServer):
    label = "fake"

    def __init__(self, *, now: Callable[[], datetime] | None = None, per_second: float | None = None,
                 latency: float = 0.0) -> None:
        super().__init__(latency=latency, now=lambda: (now or (lambda: datetime.now(timezone.utc)))().timestamp())
        self.clock_now = now or (lambda: datetime.now(timezone.utc))
        self.per_second = per_second
        self.parcels: dict[str, Parcel] = {}
        self.webhook_url = ""
        self.pushed: list[tuple[int, bytes]] = []  # (daemon's HTTP status, body) of every push
        self.answers: list = []  # the daemon's JSON answer to every push (None when not JSON)
        self.retry_afters: list[str | None] = []  # its Retry-After header, when it asked to retry
        self.requests: list[tuple[str, int]] = []  # (endpoint, numbers in the request)
        self.over_limit = 0  # requests refused with 429 for exceeding per_second
        self._window: deque[float] = deque()
        self.max_in_a_second = 0
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        await super().close()

    # --- requests ------------------------------------------------------------------------------
    def _limited(self) -> web.Response | None:
        """Enforce `per_second` over a sliding second of real time (the client paces on real time too)."""
        if self.per_second is None:
            return None
        now = time.monotonic()
        while self._window and now - self._window[0] >= 1.0:
            self._window.popleft()
        if len(self._window) >= self.per_second:
            self.over_limit += 1
            return web.json_response({"code": 429, "message": "too many requests"}, status=429,
                                     headers={"Retry-After": "1"})
        self._window.append(now)
        self.max_in_a_second = max(self.max_in_a_second, len(self._window))
        return None

    async def _gate(self, endpoint: str, count: int = 1) -> web.Response | None:
        """Faults first (they count as requests), then the rate limit; records the request."""
        self.requests.append((endpoint, count))
        fault = await self._fault()
        if fault is not None:
            return fault
        return self._limited()

    def malformed_next(self, times: int = 1) -> None:
        from tests.fakes._base import Fault

        self.inject(Fault(status=200, body="<html>gateway error</html>"), times)

    def fail_next(self, status: int = 503, times: int = 1, retry_after: str | None = None) -> None:
        from tests.fakes._base import Fault

        self.inject(Fault(status=status, body={"error": "unavailable"},
                          headers={"Retry-After": retry_after} if retry_after else {}), times)

    # --- journeys ------------------------------------------------------------------------------
    def scan_of(self, number: str, kind: str, text: str | None = None, location: str = "MADRID, ES") -> Parcel:
        assert kind in KINDS, kind
        parcel = self.parcels.setdefault(number, Parcel(number))
        parcel.scans.append(Scan(self.clock_now(), kind, text or TEXTS[kind], location))
        return parcel

    async def scan(self, number: str, kind: str, text: str | None = None, *, push: bool = True,
                   location: str = "MADRID, ES") -> int | None:
        """The carrier scans the parcel; the source pushes the news. Returns the daemon's HTTP status."""
        parcel = self.scan_of(number, kind, text, location)
        if not push or not parcel.id:  # only numbers registered with the source are pushed
            return None
        return await self.push(parcel)

    def body(self, parcel: Parcel) -> bytes:  # pragma: no cover - overridden
        raise NotImplementedError

    def sign_headers(self, body: bytes, parcel: Parcel) -> dict[str, str]:  # pragma: no cover - overridden
        raise NotImplementedError

    async def push(self, parcel: Parcel, *, body: bytes | None = None, tamper: bool = False,
                   unsigned: bool = False, headers: dict[str, str] | None = None) -> int:
        body = self.body(parcel) if body is None else body
        sign = {} if unsigned else self.sign_headers(body, parcel)
        if tamper:
            body = body.replace(b"Delivered", b"Returned").replace(b"delivered", b"returned") + b" "
        if self._http is None:
            self._http = aiohttp.ClientSession()
        url = parcel.url or self.webhook_url
        async with self._http.post(url, data=body, headers={"Content-Type": "application/json", **sign,
                                                             **(headers or {})}) as resp:
            raw = await resp.read()
            try:
                self.answers.append(json.loads(raw))
            except ValueError:
                self.answers.append(None)
            self.retry_afters.append(resp.headers.get("Retry-After"))
            self.pushed.append((resp.status, body))
            return resp.status

    def numbers_in(self, endpoint: str) -> int:
        return sum(n for e, n in self.requests if e == endpoint)
