"""SMS through Twilio, with the official `twilio` package's async client.

The SDK's async client ignores its own timeout, so every call is wrapped in `asyncio.wait_for`; its
`max_retries` would retry POSTs and duplicate SMS, so it stays off: retries come from the outbox.
A 429 is the one reply Twilio guarantees was not processed. A 5xx or a timeout is ambiguous (Twilio may
have taken the message), so before retrying such a send the channel looks for it among the recent
messages to that number and, when it is there, records it instead of sending it again.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import ClassVar
from urllib.parse import urlencode

import aiohttp
from pydantic import Field, SecretStr, field_validator, model_validator

from tracker import redact
from tracker.notify.base import (
    Channel,
    ChannelSettings,
    Message,
    Permanent,
    SendResult,
    Temporary,
)
from tracker.redact import connect_reason, origin
from tracker.retry import retry_after_seconds

log = logging.getLogger("tracker.notify.twilio")
_sdk_log = logging.getLogger("tracker.notify.twilio.sdk")  # the SDK logs every request at INFO: keep it quiet
_sdk_log.setLevel(logging.WARNING)

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
STATUS_CALLBACK_PATH = "/webhooks/twilio/status"
INBOUND_PATH = "/webhooks/twilio/inbound"

INVALID_NUMBER, OPTED_OUT, NOT_MOBILE = 21211, 21610, 21614
PERMANENT_CODES = {
    INVALID_NUMBER: "invalid phone number (Twilio 21211)",
    OPTED_OUT: "recipient replied STOP (Twilio 21610)",
    NOT_MOBILE: "number cannot receive SMS (Twilio 21614)",
    21408: "sending to this country is not enabled (Twilio 21408)",
    21635: "number is a landline (Twilio 21635)",
}


class TwilioSettings(ChannelSettings):
    account_sid: str = Field(..., description="ACxxxxxxxx; from the Twilio console")
    auth_token: SecretStr | None = Field(None, description="also signs webhooks; write ${TWILIO_AUTH_TOKEN}")
    api_key: str | None = Field(None, description="SKxxxxxxxx, instead of the auth token for sending")
    api_secret: SecretStr | None = None
    from_number: str | None = Field(None, description="E.164 sender, or use messaging_service_sid")
    messaging_service_sid: str | None = None
    base_url: str = Field("https://api.twilio.com", description="tests point it at a local fake")
    timeout_seconds: float = Field(10, gt=0, le=120)
    status_callbacks: bool = Field(True, description="ask Twilio to report delivery to server.public_url")
    validity_period_seconds: int | None = Field(None, ge=1, le=36000)

    @field_validator("account_sid")
    @classmethod
    def _sid(cls, v: str) -> str:
        if not re.fullmatch(r"AC[0-9a-fA-F]{32}", v):
            raise ValueError("an account SID is AC followed by 32 hex digits")
        return v

    @field_validator("from_number")
    @classmethod
    def _from(cls, v: str | None) -> str | None:
        if v is not None and not E164.match(v):
            raise ValueError("write the sender in E.164 form, such as +15017122661")
        return v

    @field_validator("messaging_service_sid")
    @classmethod
    def _mg(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"MG[0-9a-fA-F]{32}", v):
            raise ValueError("a messaging service SID is MG followed by 32 hex digits")
        return v

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("base_url must start with https:// (or http:// for a local test server)")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _complete(self) -> "TwilioSettings":
        if (self.from_number is None) == (self.messaging_service_sid is None):
            raise ValueError("set exactly one of from_number and messaging_service_sid")
        if self.auth_token is None and not (self.api_key and self.api_secret):
            raise ValueError("set auth_token (or api_key with api_secret)")
        if (self.api_key is None) != (self.api_secret is None):
            raise ValueError("api_key and api_secret go together")
        return self


class _HttpClient:
    """Built lazily: the SDK's async client opens an aiohttp session in its constructor, which needs a
    running loop. Its 429 replies are caught here, where the Retry-After header is still in reach."""

    @staticmethod
    def make(clock):
        from twilio.http.async_http_client import AsyncTwilioHttpClient

        class RateAwareClient(AsyncTwilioHttpClient):
            async def request(self, method, url, **kwargs):
                auth = kwargs.pop("auth", None)
                if auth is not None:  # aiohttp deprecates BasicAuth/auth=: send the header ourselves
                    kwargs["headers"] = {**(kwargs.get("headers") or {}),
                                         "Authorization": aiohttp.encode_basic_auth(auth[0], auth[1])}
                response = await super().request(method, url, **kwargs)
                if response.status_code == 429:
                    raise Temporary("Twilio 429 too many requests", retry_after=retry_after_seconds(
                        (response.headers or {}).get("Retry-After"), clock.now()))
                return response

        return RateAwareClient(logger=_sdk_log)


class TwilioChannel(Channel):
    name = "twilio"
    kinds = frozenset({"sms"})
    Settings = TwilioSettings
    settings: TwilioSettings
    status_path: ClassVar[str] = STATUS_CALLBACK_PATH

    _client = None
    _http = None
    LOOKUP_LIMIT: ClassVar[int] = 20

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._ambiguous: dict[int, str] = {}  # notification id -> body of a send whose outcome is unknown

    def _get_client(self):
        if self._client is None:
            from twilio.rest import Client

            s = self.settings
            self._http = _HttpClient.make(self.clock)
            if s.api_key:
                client = Client(s.api_key, s.api_secret.get_secret_value(), account_sid=s.account_sid,
                                http_client=self._http, environment={})
            else:
                client = Client(s.account_sid, s.auth_token.get_secret_value(), http_client=self._http,
                                environment={})
            client.api.base_url = s.base_url
            self._client = client
        return self._client

    def status_callback(self, notification_id: int) -> str | None:
        if not self.settings.status_callbacks or not self.public_url:
            return None
        return f"{self.public_url.rstrip('/')}{STATUS_CALLBACK_PATH}?{urlencode({'n': notification_id})}"

    async def send(self, message: Message) -> SendResult:
        from twilio.base.exceptions import TwilioException

        s = self.settings
        kwargs = dict(to=message.to, body=message.text)
        if s.messaging_service_sid:
            kwargs["messaging_service_sid"] = s.messaging_service_sid
        else:
            kwargs["from_"] = s.from_number
        callback = self.status_callback(message.notification_id)
        if callback:
            kwargs["status_callback"] = callback
        if s.validity_period_seconds:
            kwargs["validity_period"] = s.validity_period_seconds
        client = self._get_client()
        if message.notification_id in self._ambiguous:
            earlier = await self._find_earlier(message)
            if earlier is not None:
                return SendResult(provider_id=earlier)
        try:
            msg = await asyncio.wait_for(client.messages.create_async(**kwargs), s.timeout_seconds)
        except asyncio.TimeoutError:
            self._remember(message)
            raise Temporary(f"Twilio ({origin(s.base_url)}) did not answer within {s.timeout_seconds:g}s") from None
        except aiohttp.ClientError as exc:
            raise Temporary(f"Twilio unreachable at {origin(s.base_url)}: {connect_reason(exc)}") from None
        except TwilioException as exc:
            error = classify(exc, message.to)
            if isinstance(error, Temporary) and (getattr(exc, "status", 0) or 0) >= 500:
                self._remember(message)
            raise error from None
        return SendResult(provider_id=msg.sid)

    def _remember(self, message: Message) -> None:
        if len(self._ambiguous) > 10_000:
            self._ambiguous.pop(next(iter(self._ambiguous)))
        self._ambiguous[message.notification_id] = message.text

    async def _find_earlier(self, message: Message) -> str | None:
        """The sid of this very SMS if an earlier, unanswered attempt did reach Twilio."""
        from twilio.base.exceptions import TwilioException

        s = self.settings
        try:
            recent = await asyncio.wait_for(
                self._get_client().messages.list_async(to=message.to, limit=self.LOOKUP_LIMIT), s.timeout_seconds)
        except (asyncio.TimeoutError, aiohttp.ClientError, TwilioException):
            raise Temporary("Twilio unreachable while checking an earlier attempt") from None
        self._ambiguous.pop(message.notification_id, None)
        sender = s.from_number
        for msg in recent:
            if msg.body == message.text and (sender is None or msg.from_ == sender):
                log.info("notification %s had reached Twilio on an earlier attempt; not sending it again",
                         message.notification_id)
                return msg.sid
        return None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
            self._client = None


def classify(exc, to: str) -> Temporary | Permanent:
    status = getattr(exc, "status", None) or 0
    code = getattr(exc, "code", None)
    if code in PERMANENT_CODES:
        log.info("Twilio refused SMS to %s: %s", redact.phone(to), PERMANENT_CODES[code])
        return Permanent(PERMANENT_CODES[code], suppress=code == OPTED_OUT)
    if status == 429 or code == 20429:
        return Temporary("Twilio 429 too many requests")
    if status >= 500 or status in (408, 0):
        return Temporary(f"Twilio HTTP {status}")
    if status in (401, 403):
        return Permanent(f"Twilio refused our credentials (HTTP {status}, code {code}); check providers.twilio")
    return Permanent(f"Twilio refused the message (HTTP {status}, code {code})")
