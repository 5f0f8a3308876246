"""A daemon wired to the fake Twilio and SendGrid servers, with its web server on 127.0.0.1 (shared by
the messaging tests and bench/dispatch.py)."""

from __future__ import annotations

import contextlib

from tests.fakes.sendgrid import API_KEY, FakeSendGrid
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.helpers import deep_merge, make_settings

FROM_NUMBER = "+15005550006"


def messaging_sections(tw: FakeTwilio, sg: FakeSendGrid, **extra) -> dict:
    sections = {
        "server": {"enabled": True, "host": "127.0.0.1", "port": 0},
        "channels": {"sms": {"provider": "twilio"}, "email": {"provider": "sendgrid"}},
        "providers": {
            "twilio": {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": FROM_NUMBER,
                       "base_url": tw.url, "timeout_seconds": 0.5},
            "sendgrid": {"api_key": API_KEY, "from_email": "orders@shop.example", "from_name": "Demo Shop",
                         "base_url": sg.url, "timeout_seconds": 0.5, "webhook_public_key": sg.public_key_b64},
        },
        "poller": {"jitter": 0, "intervals": {k: 3600 for k in (
            "pending", "info_received", "in_transit", "out_for_delivery", "available_for_pickup",
            "failed_attempt", "exception")}},
    }
    return deep_merge(sections, extra)


def messaging_settings(tmp_path, tw, sg, **extra):
    return make_settings(tmp_path, **messaging_sections(tw, sg, **extra))


def point_public_url(daemon) -> str:
    """Make server.public_url the address the web server actually got (port 0 -> a free port)."""
    url = f"http://127.0.0.1:{daemon.port}"
    daemon.settings.server.public_url = url
    for provider in daemon.providers.values():
        provider.public_url = url
    return url


WHATSAPP_FROM = "+14155238886"
LOCALES = ("en", "pt-BR", "es", "el")


def template_sids(milestones, locales=LOCALES) -> dict[str, dict[str, str]]:
    """A distinct, well-formed Content template SID per milestone and language."""
    return {m: {loc: f"HX{abs(hash((m, loc))) % 16 ** 32:032x}" for loc in locales} for m in milestones}


def whatsapp_sections(tw: FakeTwilio, templates: dict) -> dict:
    """channels.whatsapp through providers.twilio_whatsapp on the fake Twilio, each template's body in its
    Content API."""
    for milestone, by_locale in templates.items():
        for locale, sid in by_locale.items():
            tw.add_template(sid, f"[{locale}] {milestone}: order {{{{1}}}} with {{{{2}}}}, expected {{{{3}}}}. "
                                 f"Track it: {{{{4}}}} - {{{{5}}}}", language=locale)
    return {"channels": {"whatsapp": {"provider": "twilio_whatsapp"}},
            "providers": {"twilio_whatsapp": {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
                                              "from_number": WHATSAPP_FROM, "base_url": tw.url,
                                              "timeout_seconds": 0.5, "templates": templates,
                                              "content_base_url": tw.url}}}


@contextlib.asynccontextmanager
async def fake_providers(clock):
    """The fake Twilio and SendGrid, both on the test's clock (WhatsApp sessions, signed event times)."""
    now = lambda: clock.now().timestamp()
    async with FakeTwilio(now=now) as tw, FakeSendGrid(now=now) as sg:
        yield tw, sg
