"""The carrier contract.

A carrier module holds a settings model, `STATUS_MAP` (raw code -> Status), a pure `parse(payload)` and
a `Carrier` subclass whose `track(numbers)` is the only IO. Errors are typed:

    CarrierError
     ├── NotFoundYet   the number is not known to the carrier yet: stay pending, poll later (not an error)
     ├── RateLimited   429 or quota: wait `retry_after` seconds before the next call to this carrier
     ├── AuthFailed    credentials refused even after one token refresh: pause the carrier, alert support
     ├── Temporary     timeout, 5xx, malformed or HTML reply: back off and retry
     └── Invalid       permanent for this number (bad format, cancelled label): tell support, stop polling

`track` returns one entry per number: a TrackingResult or a per-number CarrierError (NotFoundYet,
Invalid). Errors that concern the whole request (RateLimited, AuthFailed, Temporary) are raised.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from tracker.clock import SYSTEM, Clock
from tracker.status import Status, TrackingEvent, TrackingResult

__all__ = [
    "AuthFailed", "Carrier", "CarrierError", "CarrierSettings", "Invalid", "NotFoundYet", "Push", "PushNews",
    "Quota", "RateLimited", "SingleNumberCarrier", "Status", "Temporary", "TrackingEvent", "TrackingResult",
    "build_registry",
]


class CarrierError(Exception):
    """Base of every carrier failure."""


class NotFoundYet(CarrierError):
    """The carrier does not know this number yet."""


class RateLimited(CarrierError):
    def __init__(self, message: str = "rate limited", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthFailed(CarrierError):
    """Credentials refused. The poller pauses the carrier and raises a support alert."""


class Temporary(CarrierError):
    def __init__(self, message: str = "temporary failure", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Invalid(CarrierError):
    """Permanent for this number."""


class CarrierSettings(BaseModel):
    """Settings every carrier accepts; carriers extend it with their credentials."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    base_url: str | None = None
    timeout_seconds: float = Field(20, gt=0)
    rate_per_second: float | None = Field(None, gt=0, description="default: the carrier's documented limit")
    daily_budget: int | None = Field(None, ge=1, description="default: the carrier's documented quota")


@dataclass(slots=True)
class PushNews:
    """One shipment's news in a pushed webhook."""

    number: str
    result: TrackingResult | None
    carrier_code: str | None = None  # the source's name for the carrier (17TRACK key, AfterShip slug...)
    stopped: bool = False  # the source stopped tracking this number (17TRACK TRACKING_STOPPED)


@dataclass(slots=True)
class Push:
    """A verified webhook, parsed. `event_id` dedupes deliveries; `sent_at` (when the source says) bounds
    replays."""

    event_id: str
    news: list[PushNews] = field(default_factory=list)
    sent_at: datetime | None = None


@dataclass(slots=True)
class Quota:
    remaining: int | None
    total: int | None = None


class Carrier(ABC):
    """A tracking source: a carrier's API polled (`track`), and, where it pushes (`pushes`), the
    subscription calls and the webhook's check and parse. Aggregators are sources too: their `track`
    is the polling fallback, `subscribe` registers numbers, pushes arrive at /webhooks/sources/{name}."""

    name: ClassVar[str]
    display_name: ClassVar[str]
    production_url: ClassVar[str] = ""
    Settings: ClassVar[type[CarrierSettings]] = CarrierSettings
    batch_size: ClassVar[int] = 1
    rate_per_second: ClassVar[float] = 10.0
    daily_budget: ClassVar[int | None] = None
    # Push: an aggregator (tracks many carriers) or a carrier's own push service.
    aggregator: ClassVar[bool] = False
    subscribe_batch: ClassVar[int] = 1
    subscription_days: ClassVar[float | None] = None  # subscriptions lapse (UPS Track Alert: 14 days)
    env_prefix: ClassVar[str | None] = None  # for ${PREFIX_FIELD} hints when the name is no variable name
    public_url: str = ""  # server.public_url, for the webhook address given at subscription

    def __init__(self, settings: CarrierSettings, session: aiohttp.ClientSession | None = None,
                 clock: Clock = SYSTEM) -> None:
        self.settings = settings
        self.session = session
        self.clock = clock

    @property
    def base(self) -> str:
        """The API's base URL: production unless config points it elsewhere (a test environment, a fake)."""
        return (self.settings.base_url or self.production_url).rstrip("/")

    def require(self, *fields: str) -> None:
        """Refuse to call without credentials: AuthFailed naming the settings and the variables to export."""
        if all(getattr(self.settings, f) for f in fields):
            return
        names = _and(fields)
        prefix = self.env_prefix or self.name.upper().replace("-", "_")
        env = _and([f"${{{prefix}_{f.upper()}}}" for f in fields])
        verb = "is not set" if len(fields) == 1 else "are not set" if len(fields) == 2 else "are not all set"
        raise AuthFailed(f"{self.display_name}: {names} {verb}; set {'it' if len(fields) == 1 else 'them'} in "
                         f"config.yaml (carriers.{self.name}) from {env}")

    @property
    def requests_per_second(self) -> float:
        return self.settings.rate_per_second or self.rate_per_second

    @property
    def budget_per_day(self) -> int | None:
        return self.settings.daily_budget or self.daily_budget

    @abstractmethod
    async def track(self, numbers: Sequence[str]) -> dict[str, TrackingResult | CarrierError]:
        """Ask the carrier about up to `batch_size` numbers. The only IO of a carrier."""

    async def aclose(self) -> None:
        """Release anything the carrier holds (tokens, connections it owns)."""

    # --- push (sources that push override these) ----------------------------------------------
    @property
    def pushes(self) -> bool:
        """True when news about subscribed numbers is pushed to us (config may turn it off)."""
        return False

    @property
    def webhook_url(self) -> str:
        return f"{self.public_url.rstrip('/')}/webhooks/sources/{self.name}"

    def verify(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """None when the webhook is authentic, else the reason it is refused (no secret in it)."""
        return "this source does not push"

    def parse_push(self, body: bytes) -> Push:
        """Pure: a verified webhook body -> its news. Raises ValueError for a body of the wrong shape."""
        raise ValueError("this source does not push")

    async def subscribe(self, items: Sequence[tuple[str, str | None]]) -> dict[str, str | CarrierError]:
        """Ask for pushes about up to `subscribe_batch` (number, carrier name or None) pairs. Returns per
        number the source's carrier code ("" when unknown) or a per-number error; raises for the request."""
        return {number: "" for number, _ in items}

    async def unsubscribe(self, numbers: Sequence[str]) -> None:
        """Stop pushes about numbers that are finished (delivered, expired)."""

    async def quota(self) -> Quota | None:
        """What is left of the source's registration quota, where it has one."""
        return None

    async def check(self, number: str, carrier: str | None = None) -> TrackingResult | CarrierError | None:
        """`tracker check`: ask once about one number. An aggregator answers only about numbers it tracks:
        register it first (idempotent)."""
        try:
            if self.aggregator:
                registered = (await self.subscribe([(number, carrier)])).get(number)
                if isinstance(registered, CarrierError):
                    return registered
            return (await self.track([number])).get(number)
        except CarrierError as exc:
            return exc


class SingleNumberCarrier(Carrier):
    """A carrier whose API answers one number per request: `track` asks for each in turn."""

    batch_size: ClassVar[int] = 1

    async def track(self, numbers: Sequence[str]) -> dict[str, TrackingResult | CarrierError]:
        out: dict[str, TrackingResult | CarrierError] = {}
        for number in numbers:
            out.update(await self.track_one(number))
        return out

    @abstractmethod
    async def track_one(self, number: str) -> dict[str, TrackingResult | CarrierError]:
        """One request about one number."""


def _and(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def build_registry(*classes: type[Carrier]) -> dict[str, type[Carrier]]:
    registry: dict[str, type[Carrier]] = {}
    for cls in classes:
        if cls.name in registry:
            raise ValueError(f"two carriers are registered as {cls.name!r}: {registry[cls.name]} and {cls}")
        registry[cls.name] = cls
    return registry
