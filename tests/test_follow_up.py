"""After delivery: the rating email goes out once, N days later, by email only; a genuine click records once,
forged and reused links are refused; a low rating alerts support; opt-outs are respected."""

import asyncio
import re
from datetime import timedelta

import aiohttp
from sqlalchemy import select

from tests.helpers import add, make_settings, notifications, sent
from tracker.cli import main
from tracker.components import load as load_config
from tracker.db import sessionmaker
from tracker.models import Alert, Rating, Suppression

HOURLY = {"poller": {"jitter": 0, "intervals": {k: 3600 for k in (
    "pending", "info_received", "in_transit", "out_for_delivery", "available_for_pickup", "failed_attempt",
    "exception")}}}
SECRET = "a-long-test-signing-secret"


async def delivered_and_asked(tmp_path, start_daemon, clock, channels="sms,email"):
    settings = make_settings(tmp_path, **HOURLY, server={"enabled": True, "port": 0},
                             follow_up={"enabled": True, "secret": SECRET, "days_after_delivery": 3})
    daemon = await start_daemon(settings, web_server=True)
    daemon.settings.server.public_url = f"http://127.0.0.1:{daemon.port}"
    ship = await add(daemon, "ORDER-R", "SBX-DELIVER-1", channels=channels)
    for _ in range(34 + 72 - 1):  # delivered at hour 34; three days later minus an hour
        await daemon.run_once()
        clock.advance(timedelta(hours=1))
    await daemon.run_once()
    assert not [n for n in await notifications(daemon.engine, ship.id) if n.milestone == "follow_up"]
    clock.advance(timedelta(hours=1))
    await daemon.run_once()
    return settings, daemon, ship


async def test_follow_up_rating_records_once_and_refuses_forged_or_reused_links(tmp_path, start_daemon, clock,
                                                                               capsys):
    settings, daemon, ship = await delivered_and_asked(tmp_path, start_daemon, clock)
    assert [(m, c) for m, c in sent(await notifications(daemon.engine, ship.id)) if m == "follow_up"] == [
        ("follow_up", "email")]
    out = capsys.readouterr().out
    assert "Did your order ORDER-R arrive safely?" in out
    links = dict(re.findall(r"^([1-5]) - \w+: (http://\S+)$", out, re.M))
    assert sorted(links) == ["1", "2", "3", "4", "5"]
    for _ in range(10):  # asked once only
        clock.advance(timedelta(hours=6))
        await daemon.run_once()
    assert "arrive safely" not in capsys.readouterr().out

    async with aiohttp.ClientSession() as http:
        forged = links["4"].replace("/4?", "/5?")  # the score changed, the signature kept
        async with http.get(forged) as resp:
            assert resp.status == 403 and "not valid" in await resp.text()
        async with http.get(links["4"][:-3] + "abc") as resp:  # a tampered signature
            assert resp.status == 403
        async with http.get(links["4"]) as resp:
            assert resp.status == 200 and "Thank you for your answer (4/5)" in await resp.text()
        for again in (links["4"], links["2"]):  # reused, or another of the five after the first answer
            async with http.get(again) as resp:
                assert resp.status == 409 and "already answered" in await resp.text()
        form = links["4"].replace("/4?sig=", "/4/comment?").split("?")[0]
        sig = links["4"].split("sig=")[1]
        async with http.post(form, data={"sig": sig, "comment": "Quick and well packed"}) as resp:
            assert resp.status == 200
        async with http.post(form, data={"sig": sig, "comment": "second try"}) as resp:
            assert resp.status == 409
        async with http.post(form.replace("/4/", "/3/"), data={"sig": sig, "comment": "x"}) as resp:
            assert resp.status == 403

    async with sessionmaker(daemon.engine)() as session:
        ratings = (await session.execute(select(Rating))).scalars().all()
        assert [(r.score, r.comment) for r in ratings] == [(4, "Quick and well packed")]
        assert (await session.execute(select(Alert))).scalars().all() == []  # a good rating is no alert
    assert await asyncio.to_thread(main, ["--config", settings.source, "status", "ORDER-R"]) == 0
    assert 'Customer rating: 4/5 on 2026-03-' in capsys.readouterr().out


async def test_low_rating_alerts_support(tmp_path, start_daemon, clock):
    _, daemon, ship = await delivered_and_asked(tmp_path, start_daemon, clock, channels="email")
    token = ship.public_token
    from tracker.follow_up import sign
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{daemon.port}/rate/{token}/2?sig={sign(SECRET, token, 2)}") as resp:
            assert resp.status == 200 and "sorry it did not go well" in await resp.text()
    async with sessionmaker(daemon.engine)() as session:
        [alert] = (await session.execute(select(Alert))).scalars().all()
    assert alert.cause == "low_rating" and "rated the delivery 2/5" in alert.message and "ORDER-R" in alert.message


async def test_follow_up_respects_channel_choice_and_opt_out(tmp_path, start_daemon, clock):
    settings = make_settings(tmp_path, **HOURLY, follow_up={"enabled": True, "secret": SECRET,
                                                            "days_after_delivery": 1})
    daemon = await start_daemon(settings)
    sms_only = await add(daemon, "ORDER-SMS", "SBX-DELIVER-1", channels="sms")
    opted_out = await add(daemon, "ORDER-OUT", "SBX-DELIVER-2", email="gone@example.com", channels="email")
    async with sessionmaker(daemon.engine)() as session, session.begin():
        session.add(Suppression(channel="email", address="gone@example.com", reason="unsubscribed",
                                created_at=clock.now()))
    for _ in range(34 + 30):
        await daemon.run_once()
        clock.advance(timedelta(hours=1))
    assert not [n for n in await notifications(daemon.engine, sms_only.id) if n.milestone == "follow_up"]
    assert [(n.milestone, n.state) for n in await notifications(daemon.engine, opted_out.id)
            if n.milestone == "follow_up"] == [("follow_up", "suppressed")]


def test_follow_up_needs_a_signing_secret_from_the_environment(monkeypatch):
    import pytest

    from tracker.config import ConfigError

    with pytest.raises(ConfigError) as err:
        load_config(text="follow_up:\n  enabled: true\n")
    assert "follow_up" in str(err.value) and "secret" in str(err.value)
    monkeypatch.setenv("TRACKER_FOLLOW_UP_SECRET", SECRET)
    s = load_config(text="follow_up:\n  enabled: true\n  secret: ${TRACKER_FOLLOW_UP_SECRET}\n")
    assert s.follow_up.enabled and s.follow_up.secret == SECRET
