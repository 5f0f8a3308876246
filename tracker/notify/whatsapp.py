"""WhatsApp through Twilio's Messages API (the same endpoint and SDK as SMS, `whatsapp:` addresses).

Limits (Twilio / Meta): a business may write free-form text only within 24 hours of the customer's last
message to it (the customer-service session); outside it, only an approved Content template
(ContentSid + ContentVariables, a JSON string of at most 100 numbered values) may open the
conversation, else Twilio fails the message with 63016. Free-form text is at most 1600 characters here.
Credentials are the Twilio account's (auth token or API key), the sender a WhatsApp-enabled number.

The dispatcher decides between text and template (it knows the session); this module only sends.

Exactly once: Twilio lists a template message with the template's own text, its `{{n}}` filled in, not
with the text tracker rendered. So before a template message is handed over, its body is read once from
Twilio's Content API (`GET /v1/Content/{HX...}`, kept for the life of the process) and rendered with the
message's variables: that text's digest is what the hand-over commits and what an in-doubt lookup
matches in the Messages list. Twilio's status callbacks, whose URL names the notification, settle an
in-doubt row too (tracker/web/messaging_hooks.py), even where the list shows no body.
`templates` maps each milestone and language to the template's HX SID, e.g.
`templates: {shipped: {en: HX..., pt-BR: HX...}}`; a missing one makes the message fall back to the
order's next channel, and `tracker config check` names each missing one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from datetime import datetime, timedelta

import aiohttp
from pydantic import Field, field_validator

from tracker import redact
from tracker.notify.base import Message, Permanent, Temporary, transport_error
from tracker.notify.sms import TwilioChannel, TwilioSettings, classify

log = logging.getLogger("tracker.notify.whatsapp")

SESSION = timedelta(hours=24)
MAX_TEXT = 1600
PREFIX = "whatsapp:"
CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")

OUTSIDE_SESSION = 63016
PERMANENT_CODES = {
    OUTSIDE_SESSION: "free-form WhatsApp text outside the 24-hour session (Twilio 63016); a template is needed",
    63003: "the number is not on WhatsApp (Twilio 63003)",
    63024: "invalid WhatsApp recipient (Twilio 63024)",
    63032: "WhatsApp will not deliver to this user (Twilio 63032)",
    63014: "the customer blocked us on WhatsApp (Twilio 63014)",
    63015: "the customer has not joined the WhatsApp sandbox (Twilio 63015)",
    63021: "WhatsApp rejected the content (Twilio 63021)",
    21654: "ContentVariables were sent without a ContentSid (Twilio 21654)",
}
# Codes after which nothing more must be sent to that number on WhatsApp.
DEAD_CODES = frozenset({63003, 63014, 63024})
TEMPORARY_CODES = {63018: "WhatsApp rate limit (Twilio 63018)"}


class WhatsAppSettings(TwilioSettings):
    from_number: str | None = Field(None, description="the WhatsApp sender in E.164 (no whatsapp: prefix)")
    templates: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="milestone -> language -> approved Content template SID (HX...)")
    content_base_url: str = Field("https://content.twilio.com",
                                  description="Twilio's Content API, read once per template; tests point it at a fake")

    @field_validator("content_base_url")
    @classmethod
    def _content_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("content_base_url must start with https:// (or http:// for a local test server)")
        return v.rstrip("/")

    @field_validator("from_number", mode="before")
    @classmethod
    def _strip_prefix(cls, v):
        return v[len(PREFIX):] if isinstance(v, str) and v.startswith(PREFIX) else v

    @field_validator("templates")
    @classmethod
    def _sids(cls, v: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for milestone, by_locale in v.items():
            for locale, sid in by_locale.items():
                if not CONTENT_SID.fullmatch(str(sid)):
                    raise ValueError(f"templates.{milestone}.{locale}: {sid!r} is not a Content template SID "
                                     "(HX followed by 32 hex digits, from Twilio's Content Template Builder)")
        return v


def in_session(last_inbound_at: datetime | None, now: datetime) -> bool:
    """Free-form text may go out: the customer wrote to us less than 24 hours ago."""
    return last_inbound_at is not None and now - last_inbound_at < SESSION


def template_sid(templates: dict[str, dict[str, str]], milestone: str, locale: str) -> str | None:
    """The approved template for this milestone in the language the message is written in, if any.
    Never another language's: a customer who reads Spanish does not get an English template."""
    return (templates.get(milestone) or {}).get(locale)


def template_variables(*, order_number: str, carrier_name: str, expected_date: str | None, tracking_url: str,
                       shop_name: str, pickup_location: str | None, pickup_until_date: str | None) -> dict[str, str]:
    """The numbered values every template may use ({{1}} ... {{7}}); an unknown one reads "-"."""
    values = [order_number, carrier_name, expected_date, tracking_url, shop_name, pickup_location,
              pickup_until_date]
    return {str(i): (v or "-") for i, v in enumerate(values, start=1)}


def render_template(body: str, values: dict[str, str], defaults: dict | None = None) -> str:
    """A Content template's text as Twilio fills it in: each {{n}} by the message's value, else the
    template's default for it."""
    defaults = defaults or {}

    def fill(m: re.Match) -> str:
        key = m.group(1)
        return str(values.get(key, defaults.get(key, m.group(0))))
    return PLACEHOLDER.sub(fill, body)


def template_text(types: dict | None) -> str | None:
    """The body of a Content resource's types: twilio/text first, else the first type that has one."""
    types = types or {}
    ordered = [types.get("twilio/text")] + [v for k, v in types.items() if k != "twilio/text"]
    for kind in ordered:
        if isinstance(kind, dict) and isinstance(kind.get("body"), str):
            return kind["body"]
    return None


def missing_templates(templates: dict[str, dict[str, str]], milestones: list[str],
                      locales: list[str]) -> dict[str, list[str]]:
    """milestone -> languages without a template, for `tracker config check`."""
    out = {}
    for milestone in milestones:
        gone = [loc for loc in locales if not template_sid(templates, milestone, loc)]
        if gone:
            out[milestone] = gone
    return out


class WhatsAppChannel(TwilioChannel):
    name = "twilio_whatsapp"
    kinds = frozenset({"whatsapp"})
    Settings = WhatsAppSettings
    settings: WhatsAppSettings

    def address_of(self, to: str) -> str:
        return PREFIX + to

    def _get_client(self):
        client = super()._get_client()
        client.content.base_url = self.settings.content_base_url
        return client

    async def listed_text(self, message: Message) -> str:
        if not message.content_sid:
            return message.text[:MAX_TEXT]
        body, defaults = await self._template(message.content_sid)
        return render_template(body, message.content_variables or {}, defaults)

    async def _template(self, sid: str) -> tuple[str, dict]:
        """The template's body and default values, read from the Content API once per process."""
        from twilio.base.exceptions import TwilioException

        cache = self.__dict__.setdefault("_templates", {})
        if sid not in cache:
            s = self.settings
            try:
                content = await asyncio.wait_for(self._get_client().content.v1.contents(sid).fetch_async(),
                                                 s.timeout_seconds)
            except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
                raise transport_error("Twilio Content API", s.content_base_url, exc, s.timeout_seconds) from None
            except TwilioException as exc:
                raise Temporary(f"cannot read WhatsApp template {sid} from Twilio's Content API "
                                f"(HTTP {getattr(exc, 'status', '?')})") from None
            body = template_text(content.types)
            if body is None:
                raise Permanent(f"WhatsApp template {sid} has no text body in Twilio's Content API")
            cache[sid] = (body, dict(content.variables or {}))
        return cache[sid]

    def sender(self) -> str | None:
        return PREFIX + self.settings.from_number if self.settings.from_number else None

    def create_kwargs(self, message: Message) -> dict:
        s = self.settings
        kwargs: dict = dict(to=self.address_of(message.to))
        if message.content_sid:
            kwargs["content_sid"] = message.content_sid
            if message.content_variables:
                kwargs["content_variables"] = json.dumps(message.content_variables, ensure_ascii=False)
        else:
            kwargs["body"] = message.text[:MAX_TEXT]
        if s.messaging_service_sid:
            kwargs["messaging_service_sid"] = s.messaging_service_sid
        else:
            kwargs["from_"] = self.sender()
        return kwargs

    def classify(self, exc, to: str) -> Temporary | Permanent:
        code = getattr(exc, "code", None)
        if code in TEMPORARY_CODES:
            return Temporary(TEMPORARY_CODES[code])
        if code in PERMANENT_CODES:
            log.info("Twilio refused WhatsApp to %s: %s", redact.phone(to), PERMANENT_CODES[code])
            return Permanent(PERMANENT_CODES[code], suppress=code in DEAD_CODES)
        return classify(exc, to)
