"""The channel contract.

A provider module holds a settings model and a `Channel` subclass whose `send(message)` is the only IO.
Rendering happens before, in one place (`tracker.notify.render`). Errors:

    ChannelError
     ├── Temporary   429, 5xx, timeout: retry later (honouring retry_after when the provider gives one);
     │               `ambiguous` when the request was sent and the provider may have taken the message
     │               (a timeout or 5xx after sending): the row is then in doubt, see `find_sent`
     └── Permanent   invalid number, opted out, bad address, refused credentials: never retried;
                     the dispatcher falls back to the order's other channel
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

import aiohttp
from pydantic import BaseModel, ConfigDict

from tracker.clock import SYSTEM, Clock
from tracker.redact import connect_reason, origin


@dataclass(frozen=True, slots=True)
class Message:
    notification_id: int
    channel: str  # "sms", "whatsapp" or "email"
    to: str
    text: str
    subject: str | None = None
    html: str | None = None
    locale: str = "en"
    milestone: str = ""
    order_number: str = ""
    # WhatsApp outside the 24-hour session: an approved template and its numbered variables
    content_sid: str | None = None
    content_variables: dict[str, str] | None = None
    # email: the one-click unsubscribe address (RFC 8058 List-Unsubscribe)
    unsubscribe_url: str | None = None
    # email: where the customer's reply goes (conversations.reply_to), and extra headers (threading)
    reply_to: str | None = None
    headers: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_id: str


class ChannelError(Exception):
    """Base of every channel failure."""


class Temporary(ChannelError):
    def __init__(self, message: str = "temporary failure", retry_after: float | None = None, *,
                 ambiguous: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.ambiguous = ambiguous


class Permanent(ChannelError):
    def __init__(self, reason: str, *, suppress: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.suppress = suppress  # the address itself is dead (opted out, bounced): suppress it


class ChannelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Channel(ABC):
    name: ClassVar[str]
    kinds: ClassVar[frozenset[str]]
    Settings: ClassVar[type[ChannelSettings]] = ChannelSettings
    # server.public_url, set by the daemon: providers that call back (delivery reports) build URLs on it
    public_url: str | None = None

    def __init__(self, settings: ChannelSettings, session: aiohttp.ClientSession | None = None,
                 clock: Clock = SYSTEM) -> None:
        self.settings = settings
        self.session = session
        self.clock = clock

    # Whether `find_sent` can tell if an earlier, unanswered attempt reached the provider.
    can_look_up: ClassVar[bool] = False

    @abstractmethod
    async def send(self, message: Message) -> SendResult:
        """Hand one rendered message to the provider."""

    async def listed_text(self, message: Message) -> str:
        """The text the provider will show for this message in its list (what `find_sent` matches)."""
        return message.text

    async def find_sent(self, to: str, digest: str, since: datetime) -> str | None:
        """The provider's id of a message to `to` whose `body_digest(to, text)` is `digest`, handed over at
        or after `since`; None when the provider does not have it. Raises Temporary when it cannot tell."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release what the channel holds."""


def body_digest(to: str, text: str) -> str:
    """What identifies one message at its provider: the address and the exact text."""
    return hashlib.sha256(f"{to}\n{text}".encode()).hexdigest()


def build_registry(*classes: type[Channel]) -> dict[str, type[Channel]]:
    registry: dict[str, type[Channel]] = {}
    for cls in classes:
        if cls.name in registry:
            raise ValueError(f"two channels are registered as {cls.name!r}: {registry[cls.name]} and {cls}")
        registry[cls.name] = cls
    return registry


def transport_error(provider: str, base_url: str, exc: BaseException, timeout: float) -> Temporary:
    """A provider call that failed below HTTP, naming the address tried. In doubt (the request may have
    gone out) unless the connection was never made."""
    where = origin(base_url)
    if isinstance(exc, TimeoutError):
        return Temporary(f"{provider} ({where}) did not answer within {timeout:g}s", ambiguous=True)
    if isinstance(exc, aiohttp.ClientConnectorError):  # never connected: nothing was sent
        return Temporary(f"{provider} unreachable at {where}: {connect_reason(exc)}")
    return Temporary(f"{provider} connection to {where} lost: {type(exc).__name__}", ambiguous=True)
