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


# The fakes answer at once, so a deadline on them only measures the machine's load. messaging_sections'
# 0.5 s (for the tests that make a provider hang) is missed by a send on a loaded machine: the email is then
# in doubt and sent again once the pinned clock moves an hour (the customer gets it twice), and a push's
# INSERT that misses its 3 s is answered 503. Tests of those deadlines set their own.
UNHURRIED = {"providers": {"twilio": {"timeout_seconds": 20}, "sendgrid": {"timeout_seconds": 20}},
             "sources": {"inbox": {"store_timeout_seconds": 30}}}


def sources_settings(tmp_path, fake, tw, sg, database_url: str | None = None, **extra):
    from tests.helpers import deep_merge, make_settings

    sections = deep_merge(deep_merge(messaging_sections(tw, sg), UNHURRIED), source_sections(fake))
    return make_settings(tmp_path, database_url=database_url, **deep_merge(sections, extra))


def point_webhooks(daemon, fake) -> None:
    """The daemon's real address for pushes (port 0 -> the port it got); UPS learns it at subscription."""
    url = f"http://127.0.0.1:{daemon.port}"
    for rt in daemon.carriers.values():
        rt.carrier.public_url = url
    fake.webhook_url = f"{url}/webhooks/sources/{fake.label}"
