"""A daemon wired to the fake push sources and the fake Twilio/SendGrid, its web server on 127.0.0.1
(shared by the push tests and bench/push.py)."""

from __future__ import annotations

from tests.fakes import aftership, easypost, seventeentrack, ups_trackalert
from tests.messaging_env import messaging_sections

CREDENTIAL = "ups-track-alert-credential-0123"


def source_sections(fake, **extra) -> dict:
    """config sections for one fake source (17track, aftership, easypost or ups)."""
    if fake.label == "17track":
        carriers = {"17track": {"api_key": seventeentrack.API_KEY, "base_url": fake.url}}
        sources = {"default": "17track"}
    elif fake.label == "aftership":
        carriers = {"aftership": {"api_key": aftership.API_KEY, "webhook_secret": aftership.WEBHOOK_SECRET,
                                  "base_url": fake.url}}
        sources = {"default": "aftership"}
    elif fake.label == "easypost":
        carriers = {"easypost": {"api_key": easypost.API_KEY, "webhook_secret": easypost.WEBHOOK_SECRET,
                                 "base_url": fake.url}}
        sources = {"default": "easypost"}
    else:
        carriers = {"ups": {"client_id": ups_trackalert.CLIENT_ID, "client_secret": ups_trackalert.CLIENT_SECRET,
                            "base_url": fake.url, "track_alert": True, "track_alert_credential": CREDENTIAL}}
        sources = {}
    return {"carriers": carriers, "sources": sources, **extra}


def sources_settings(tmp_path, fake, tw, sg, database_url: str | None = None, **extra):
    from tests.helpers import deep_merge, make_settings

    sections = deep_merge(messaging_sections(tw, sg), source_sections(fake))
    return make_settings(tmp_path, database_url=database_url, **deep_merge(sections, extra))


def point_webhooks(daemon, fake) -> None:
    """The daemon's real address for pushes (port 0 -> the port it got); UPS learns it at subscription."""
    url = f"http://127.0.0.1:{daemon.port}"
    for rt in daemon.carriers.values():
        rt.carrier.public_url = url
    fake.webhook_url = f"{url}/webhooks/sources/{fake.label}"
