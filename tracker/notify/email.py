"""Email through SendGrid's v3 Mail Send API.

SendGrid's Python client is synchronous (urllib, no timeout), so the body is built with the official
`sendgrid` package's `Mail` helper and POSTed with the daemon's shared aiohttp session.
The notification id travels in `custom_args`, so Event Webhook events find their notification.

Mail Send has no idempotency key and (on basic plans) no way to look a message up, so a timeout or a 5xx
after the request went out is ambiguous: SendGrid may have queued the mail. The dispatcher then holds
the row in doubt for `dispatcher.email_doubt_wait_seconds`; a `processed` Event Webhook event carrying
its notification id settles it as sent, and only without one is the mail sent again (counted).
https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import EmailStr, Field, SecretStr, field_validator

from tracker.notify.base import (
    Channel,
    ChannelSettings,
    Message,
    Permanent,
    SendResult,
    Temporary,
    transport_error,
)
from tracker.retry import retry_after_seconds

log = logging.getLogger("tracker.notify.sendgrid")

MAIL_SEND_PATH = "/v3/mail/send"
EVENTS_PATH = "/webhooks/sendgrid/events"


class SendGridSettings(ChannelSettings):
    api_key: SecretStr = Field(..., description="write ${SENDGRID_API_KEY}")
    from_email: EmailStr
    from_name: str | None = None
    reply_to: EmailStr | None = None
    base_url: str = Field("https://api.sendgrid.com", description="https://api.eu.sendgrid.com for EU; tests use a fake")
    timeout_seconds: float = Field(15, gt=0, le=120)
    unsubscribe_group_id: int | None = Field(None, ge=1, description="SendGrid ASM group for the unsubscribe link")
    categories: list[str] = ["shipment"]
    # Event Webhook: the verification key shown by SendGrid (base64), and how old a signed event may be.
    webhook_public_key: str | None = None
    webhook_max_age_seconds: int = Field(600, ge=10, le=86400)

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("base_url must start with https:// (or http:// for a local test server)")
        return v.rstrip("/")

    @field_validator("webhook_public_key")
    @classmethod
    def _key(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            load_sendgrid_key(v)
        except ValueError as exc:
            raise ValueError(f"not a usable public key: {exc}") from None
        return v


def load_sendgrid_key(b64: str) -> ec.EllipticCurvePublicKey:
    """SendGrid shows the verification key as base64 DER (SubjectPublicKeyInfo); PEM is accepted too."""
    text = b64.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error, TypeError) as exc:
        raise ValueError(f"cannot read it ({type(exc).__name__})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("it is not an elliptic-curve (ECDSA) key")
    return key


class SendGridChannel(Channel):
    name = "sendgrid"
    kinds = frozenset({"email"})
    Settings = SendGridSettings
    settings: SendGridSettings
    _own_session: aiohttp.ClientSession | None = None

    @property
    def settles_by_events(self) -> bool:
        """An email in doubt can be settled by its `processed` event: only when the Event Webhook is set up."""
        return bool(self.settings.webhook_public_key)

    def build(self, message: Message) -> dict:
        from sendgrid.helpers.mail import (
            Asm,
            Category,
            CustomArg,
            GroupId,
            Header,
            Mail,
            ReplyTo,
            To,
        )

        s = self.settings
        mail = Mail(from_email=(s.from_email, s.from_name) if s.from_name else s.from_email,
                    to_emails=To(message.to), subject=message.subject or message.order_number,
                    plain_text_content=message.text, html_content=message.html or None)
        mail.custom_arg = [CustomArg("notification_id", str(message.notification_id)),
                           CustomArg("milestone", message.milestone)]
        if s.categories:
            mail.category = [Category(c) for c in s.categories]
        if message.reply_to or s.reply_to:
            mail.reply_to = ReplyTo(message.reply_to or s.reply_to)
        for name, value in message.headers or ():
            mail.add_header(Header(name, value))
        if s.unsubscribe_group_id:
            mail.asm = Asm(GroupId(s.unsubscribe_group_id))
        if message.unsubscribe_url:  # RFC 8058: the mailbox offers "unsubscribe" and POSTs to it, no login
            mail.add_header(Header("List-Unsubscribe", f"<{message.unsubscribe_url}>"))
            mail.add_header(Header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        return mail.get()

    def _session(self) -> aiohttp.ClientSession:
        if self.session is not None and not self.session.closed:
            return self.session
        if self._own_session is None:
            self._own_session = aiohttp.ClientSession()
        return self._own_session

    async def send(self, message: Message) -> SendResult:
        s = self.settings
        body = self.build(message)
        headers = {"Authorization": f"Bearer {s.api_key.get_secret_value()}"}
        try:
            async with asyncio.timeout(s.timeout_seconds):
                async with self._session().post(f"{s.base_url}{MAIL_SEND_PATH}", json=body, headers=headers) as r:
                    if 200 <= r.status < 300:
                        return SendResult(provider_id=r.headers.get("X-Message-Id") or f"sg-{message.notification_id}")
                    detail = await _errors(r)
                    raise self.classify(r.status, r.headers, detail)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise transport_error("SendGrid", s.base_url, exc, s.timeout_seconds) from None

    def classify(self, status: int, headers, detail: str) -> Temporary | Permanent:
        if status == 429:
            return Temporary("SendGrid 429 too many requests", retry_after=self.retry_after(headers))
        if status >= 500:
            return Temporary(f"SendGrid HTTP {status}", retry_after=self.retry_after(headers, only_retry_after=True),
                             ambiguous=True)
        if status in (401, 403):
            return Permanent(f"SendGrid refused our API key (HTTP {status}: {detail}); check providers.sendgrid")
        return Permanent(f"SendGrid refused the message (HTTP {status}: {detail})")

    def retry_after(self, headers, only_retry_after: bool = False) -> float | None:
        seconds = retry_after_seconds(headers.get("Retry-After"), self.clock.now())
        if seconds is not None:
            return min(3600.0, seconds)
        reset = None if only_retry_after else headers.get("X-RateLimit-Reset")
        if reset is not None:
            try:
                return min(3600.0, max(0.0, float(reset) - self.clock.now().timestamp()))
            except ValueError:
                return None
        return None

    async def aclose(self) -> None:
        if self._own_session is not None:
            await self._own_session.close()
            self._own_session = None


async def _errors(response: aiohttp.ClientResponse) -> str:
    try:
        data = await response.json(content_type=None)
        return "; ".join(e.get("message", "?") for e in data.get("errors", []))[:300] or response.reason or ""
    except Exception:  # not JSON: an HTML error page
        return response.reason or ""
