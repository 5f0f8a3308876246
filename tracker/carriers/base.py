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
from collections.abc import Sequence
from typing import ClassVar

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from tracker.clock import SYSTEM, Clock
from tracker.status import Status, TrackingEvent, TrackingResult

__all__ = [
    "AuthFailed", "Carrier", "CarrierError", "CarrierSettings", "Invalid", "NotFoundYet", "RateLimited",
    "Status", "Temporary", "TrackingEvent", "TrackingResult", "build_registry",
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


class Carrier(ABC):
    name: ClassVar[str]
    display_name: ClassVar[str]
    Settings: ClassVar[type[CarrierSettings]] = CarrierSettings
    batch_size: ClassVar[int] = 1
    rate_per_second: ClassVar[float] = 10.0
    daily_budget: ClassVar[int | None] = None

    def __init__(self, settings: CarrierSettings, session: aiohttp.ClientSession | None = None,
                 clock: Clock = SYSTEM) -> None:
        self.settings = settings
        self.session = session
        self.clock = clock

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


def build_registry(*classes: type[Carrier]) -> dict[str, type[Carrier]]:
    registry: dict[str, type[Carrier]] = {}
    for cls in classes:
        if cls.name in registry:
            raise ValueError(f"two carriers are registered as {cls.name!r}: {registry[cls.name]} and {cls}")
        registry[cls.name] = cls
    return registry
