"""Quiet hours: SMS wait for the recipient's morning, are never dropped, and give way to newer news."""

from __future__ import annotations

from datetime import datetime, time, timezone

import pytest

from tests.helpers import add, notifications
from tests.messaging_env import messaging_settings, point_public_url
from tests.test_messaging import walk
from tracker.notify import quiet

QUIET = {"quiet_hours": {"enabled": True, "start": "21:00", "end": "08:00"}}
GREEK_MOBILE = "+306912345678"


@pytest.fixture
async def daemon(tmp_path, fakes, start_daemon):
    tw, sg = fakes
    d = await start_daemon(messaging_settings(tmp_path, tw, sg, **QUIET), web_server=True)
    point_public_url(d)
    return d


def by_key(notes):
    return {(n.milestone, n.channel): n for n in notes}


async def test_sms_at_night_waits_for_the_morning_in_the_order_time_zone(daemon, fakes, clock):
    tw, sg = fakes
    # registered 14:00 UTC; shipped news at ~17:00 UTC = 02:00 in Tokyo
    ship = await add(daemon, "ORDER-Q1", "SBX-DELIVER-1", timezone="Asia/Tokyo")
    await walk(daemon, clock, 3)
    notes = by_key(await notifications(daemon.engine, ship.id))
    sms = notes[("shipped", "sms")]
    assert sms.state == "deferred" and "quiet hours in Asia/Tokyo" in sms.error
    assert sms.next_attempt_at == datetime(2026, 3, 2, 23, 0, tzinfo=timezone.utc)  # 08:00 in Tokyo
    assert notes[("shipped", "email")].state == "sent"  # email is not held back
    assert tw.messages == []
    await walk(daemon, clock, 6)  # past 23:00 UTC
    notes = by_key(await notifications(daemon.engine, ship.id))
    assert notes[("shipped", "sms")].state == "sent" and len(tw.messages) == 1


async def test_time_zone_comes_from_the_phone_number_when_the_order_has_none(daemon, fakes, clock):
    tw, sg = fakes
    clock.set(datetime(2026, 3, 2, 17, 0, tzinfo=timezone.utc))  # shipped at ~20:00 UTC = 22:00 in Athens
    ship = await add(daemon, "ORDER-Q2", "SBX-DELIVER-2", phone=GREEK_MOBILE, locale="el")
    await walk(daemon, clock, 3)
    sms = by_key(await notifications(daemon.engine, ship.id))[("shipped", "sms")]
    assert sms.state == "deferred" and "Europe/Athens" in sms.error
    assert sms.next_attempt_at == datetime(2026, 3, 3, 6, 0, tzinfo=timezone.utc)  # 08:00 in Athens


async def test_deferred_milestone_overtaken_by_newer_news_is_replaced_not_both_sent(daemon, fakes, clock):
    tw, sg = fakes
    # out for delivery at ~20:00 UTC on day 2 (22:00 Athens, deferred), delivered at ~00:00 UTC (still night)
    both = await add(daemon, "ORDER-Q3", "SBX-DELIVER-3", timezone="Europe/Athens", phone="+14155550111",
                     email="both@example.com")
    sms_only = await add(daemon, "ORDER-Q4", "SBX-DELIVER-4", timezone="Europe/Athens", phone="+14155550112",
                         email=None, channels=["sms"])
    await walk(daemon, clock, 31)
    for ship in (both, sms_only):
        assert by_key(await notifications(daemon.engine, ship.id))[("out_for_delivery", "sms")].state == "deferred"
    await walk(daemon, clock, 16)  # delivered news arrives in the night, then morning comes
    for ship, phone in ((both, "+14155550111"), (sms_only, "+14155550112")):
        notes = by_key(await notifications(daemon.engine, ship.id))
        assert notes[("out_for_delivery", "sms")].state == "suppressed"
        assert "superseded" in notes[("out_for_delivery", "sms")].error
        assert notes[("delivered", "sms")].state == "sent"
        bodies = [m["Body"] for m in tw.to(phone)]
        assert len(bodies) == 2 and "delivered" in bodies[-1]  # shipped, then delivered: never out-for-delivery
    assert by_key(await notifications(daemon.engine, both.id))[("out_for_delivery", "email")].state == "sent"


def test_quiet_window_arithmetic():
    start, end = time(21, 0), time(8, 0)
    utc = timezone.utc
    la = ("America/Los_Angeles",)
    assert quiet.quiet_until(datetime(2026, 7, 1, 18, 0, tzinfo=utc), la, start, end) is None  # 11:00 in LA
    assert quiet.quiet_until(datetime(2026, 7, 2, 5, 0, tzinfo=utc), la, start, end) == \
        datetime(2026, 7, 2, 15, 0, tzinfo=utc)  # 22:00 -> 08:00 PDT
    assert quiet.quiet_until(datetime(2026, 7, 2, 10, 0, tzinfo=utc), la, start, end) == \
        datetime(2026, 7, 2, 15, 0, tzinfo=utc)  # 03:00 -> 08:00
    # a day window that does not cross midnight
    assert quiet.is_quiet(time(13, 0), time(12, 0), time(14, 0)) and not quiet.is_quiet(time(14, 0), time(12, 0),
                                                                                        time(14, 0))
    # several zones: wait until it is morning in all of them
    two = ("America/New_York", "America/Los_Angeles")
    assert quiet.quiet_until(datetime(2026, 7, 2, 12, 0, tzinfo=utc), two, start, end) == \
        datetime(2026, 7, 2, 15, 0, tzinfo=utc)
    assert quiet.recipient_zones(None, "+14155550101", "UTC") == la
    assert quiet.recipient_zones("Asia/Tokyo", "+14155550101", "UTC") == ("Asia/Tokyo",)
    assert quiet.recipient_zones(None, "+18005550100", "Europe/Lisbon") == ("Europe/Lisbon",)  # toll-free
    assert quiet.recipient_zones(None, None, "Europe/Lisbon") == ("Europe/Lisbon",)
