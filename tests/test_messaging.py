"""Real Twilio and SendGrid SDKs against local fakes, end to end through poller, outbox and dispatcher."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.fakes.sendgrid import FakeSendGrid
from tests.fakes.twilio import FakeTwilio
from tests.helpers import add, notifications, sent
from tests.messaging_env import messaging_settings, point_public_url

PHONE, EMAIL = "+14155550101", "ana@example.com"


@pytest.fixture
async def fakes(clock):
    async with FakeTwilio() as tw, FakeSendGrid(now=lambda: clock.now().timestamp()) as sg:
        yield tw, sg


@pytest.fixture
async def env(tmp_path, fakes, start_daemon, clock):
    tw, sg = fakes

    async def start(**extra):
        daemon = await start_daemon(messaging_settings(tmp_path, tw, sg, **extra), web_server=True)
        point_public_url(daemon)
        return daemon

    return start


async def walk(daemon, clock, hours: int, step: timedelta = timedelta(hours=1)) -> None:
    for _ in range(hours):
        await daemon.run_once()
        clock.advance(step)
    await daemon.run_once()


async def test_delivery_reaches_sms_and_email_once_each(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    ship = await add(daemon, "ORDER-1", "SBX-DELIVER-1")
    await walk(daemon, clock, 40)
    assert sent(await notifications(daemon.engine, ship.id)) == [
        ("shipped", "sms"), ("shipped", "email"), ("out_for_delivery", "sms"), ("out_for_delivery", "email"),
        ("delivered", "sms"), ("delivered", "email")]
    assert len(tw.to(PHONE)) == 3 and len(sg.to(EMAIL)) == 3
    assert "ORDER-1" in tw.messages[0]["Body"] and "/t/" in tw.messages[0]["Body"]
    mail = sg.mails[0]
    assert mail["subject"] == "Your order ORDER-1 is on its way"
    assert {c["type"] for c in mail["content"]} == {"text/plain", "text/html"}
    notes = await notifications(daemon.engine, ship.id)
    assert mail["custom_args"]["notification_id"] == str(notes[1].id)
