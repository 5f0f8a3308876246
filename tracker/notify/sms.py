"""SMS through Twilio, with the official `twilio` package's async client.

The SDK's async client ignores its own timeout, so every call is wrapped in `asyncio.wait_for`; its
`max_retries` would retry POSTs and duplicate SMS, so it stays off: retries come from the outbox.
A 429 is the one reply Twilio guarantees was not processed. A 5xx, a timeout or a connection lost after
the request went out is ambiguous (Twilio may have taken the message): the send raises an ambiguous
`Temporary`, the dispatcher records the doubt in the database, and before any daemon sends that row
again it calls `find_sent`, which reads the Messages list for that number.

`find_sent` filters on `To` and walks the list newest first (by date created) back to the hand-over,
rather than filtering on `DateSent`: Twilio sets `date_sent` only once a carrier takes the message, so
a message still queued at Twilio (a messaging service queues for up to hours) would escape that filter
and be sent twice. https://www.twilio.com/docs/messaging/api/message-resource#read-multiple-message-resources
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta
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
    body_digest,
)
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
                status = response.status_code
                if status == 429 or status >= 500:
                    wait = retry_after_seconds((response.headers or {}).get("Retry-After"), clock.now())
                    if status == 429:
                        raise Temporary("Twilio 429 too many requests", retry_after=wait)
                    raise Temporary(f"Twilio HTTP {status}", retry_after=wait, ambiguous=method.upper() == "POST")
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
    can_look_up = True
    LOOKUP_PAGE: ClassVar[int] = 50
    LOOKUP_MAX: ClassVar[int] = 1000  # messages read back to the hand-over before concluding "absent"
    LOOKUP_SLACK = timedelta(minutes=5)  # clocks of Twilio and of this host differ a little

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
        kwargs = self.create_kwargs(message)
        callback = self.status_callback(message.notification_id)
        if callback:
            kwargs["status_callback"] = callback
        if s.validity_period_seconds:
            kwargs["validity_period"] = s.validity_period_seconds
        client = self._get_client()
        try:
            msg = await asyncio.wait_for(client.messages.create_async(**kwargs), s.timeout_seconds)
        except asyncio.TimeoutError:
            raise Temporary(f"Twilio did not answer within {s.timeout_seconds:g}s", ambiguous=True) from None
        except aiohttp.ClientConnectorError as exc:  # never connected: nothing was sent
            raise Temporary(f"Twilio unreachable at {s.base_url}: {type(exc).__name__}") from None
        except aiohttp.ClientError as exc:  # the connection broke after the request may have gone out
            raise Temporary(f"Twilio connection lost: {type(exc).__name__}", ambiguous=True) from None
        except TwilioException as exc:
            raise self.classify(exc, message.to) from None
        return SendResult(provider_id=msg.sid)

    def classify(self, exc, to: str) -> Temporary | Permanent:
        return classify(exc, to)

    def create_kwargs(self, message: Message) -> dict:
        """Recipient, sender and content of one message (WhatsApp changes the addresses and content)."""
        s = self.settings
        kwargs = dict(to=self.address_of(message.to), body=message.text)
        if s.messaging_service_sid:
            kwargs["messaging_service_sid"] = s.messaging_service_sid
        else:
            kwargs["from_"] = self.sender()
        return kwargs

    def address_of(self, to: str) -> str:
        """The recipient as Twilio writes it."""
        return to

    def sender(self) -> str | None:
        return self.settings.from_number

    async def find_sent(self, to: str, digest: str, since: datetime) -> str | None:
        from twilio.base.exceptions import TwilioException

        s = self.settings
        oldest = since - self.LOOKUP_SLACK

        async def look() -> str | None:
            seen = 0
            async for msg in await self._get_client().messages.stream_async(to=self.address_of(to),
                                                                             page_size=self.LOOKUP_PAGE):
                if msg.date_created is not None and msg.date_created < oldest:
                    return None  # back past the hand-over: it is not there
                if (msg.body is not None and body_digest(to, msg.body) == digest
                        and (s.from_number is None or msg.from_ == self.sender())):
                    return msg.sid
                seen += 1
                if seen >= self.LOOKUP_MAX:
                    return None
            return None

        try:
            return await asyncio.wait_for(look(), s.timeout_seconds * 3)
        except Temporary as exc:
            raise Temporary(f"cannot look the message up at Twilio: {exc}", exc.retry_after) from None
        except (asyncio.TimeoutError, aiohttp.ClientError, TwilioException) as exc:
            raise Temporary(f"cannot look the message up at Twilio: {type(exc).__name__}") from None

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
        return Temporary(f"Twilio HTTP {status}", ambiguous=True)
    if status in (401, 403):
        return Permanent(f"Twilio refused our credentials (HTTP {status}, code {code}); check providers.twilio")
    return Permanent(f"Twilio refused the message (HTTP {status}, code {code})")
