"""Support alerts reach support: email through the email provider and a JSON webhook, retried until they
arrive and never sent twice; `tracker alerts` lists them, `tracker alerts ack ID` acknowledges them."""

import asyncio
from datetime import timedelta

import pytest
from aiohttp import web

from tests.helpers import add, make_settings
from tracker.cli import main

HOURLY = {"poller": {"jitter": 0, "intervals": {k: 3600 for k in (
    "pending", "info_received", "in_transit", "out_for_delivery", "available_for_pickup", "failed_attempt",
    "exception")}}}


@pytest.fixture
async def webhook():
    """A Slack-style incoming webhook on 127.0.0.1 that fails its first `fail` requests with a 500."""
    state = {"fail": 1, "bodies": [], "answers": []}

    async def hook(request: web.Request) -> web.Response:
        state["bodies"].append(await request.json())
        if state["fail"] > 0:
            state["fail"] -= 1
            state["answers"].append(500)
            return web.Response(status=500, text="upstream hiccup")
        state["answers"].append(200)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield state
    await runner.cleanup()


async def test_alert_is_emailed_and_posted_once_with_retry(tmp_path, start_daemon, clock, webhook, capsys):
    settings = make_settings(tmp_path, **HOURLY, support_alerts={
        "email": "help@shop.example", "webhook_url": webhook["url"], "backoff_base_seconds": 60})
    daemon = await start_daemon(settings)
    await add(daemon, "ORDER-E", "SBX-EXCEPTION-1", channels="email")
    for _ in range(16):
        await daemon.run_once()
        clock.advance(timedelta(hours=1))
    await daemon.run_once()  # hour 16: the exception is seen: alert raised, emailed; the webhook answers 500

    out = capsys.readouterr().out
    assert out.count("· ORDER-E · support_alert") == 1
    assert "EMAIL to h•••@shop.example" in out and "help@shop.example" not in out
    assert "(exception)" in out and "Held at customs: documents required" in out
    assert webhook["answers"] == [500]

    clock.advance(timedelta(minutes=1))
    await daemon.run_once()  # retried: posted; the email is not sent again
    assert webhook["answers"] == [500, 200]
    text = webhook["bodies"][-1]["text"]
    assert set(webhook["bodies"][-1]) == {"text"}
    assert "support alert #1 (exception)" in text and "ORDER-E" in text and "Held at customs" in text
    for _ in range(5):
        clock.advance(timedelta(hours=1))
        await daemon.run_once()
    assert webhook["answers"] == [500, 200]
    assert "support_alert" not in capsys.readouterr().out

    # support's view: listed with its delivery state, acknowledged, gone from the open list, kept in the story
    cfg = ["--config", settings.source]
    assert await asyncio.to_thread(main, cfg + ["alerts"]) == 0
    listing = capsys.readouterr().out
    assert "#1" in listing and "exception" in listing and "order ORDER-E" in listing and "(emailed, posted)" in listing
    assert await asyncio.to_thread(main, cfg + ["alerts", "ack", "1", "--by", "maria"]) == 0
    assert "alert #1 acknowledged by maria" in capsys.readouterr().out
    assert await asyncio.to_thread(main, cfg + ["alerts"]) == 0
    assert "no open alerts" in capsys.readouterr().out
    assert await asyncio.to_thread(main, cfg + ["alerts", "--all"]) == 0
    assert "acknowledged by maria" in capsys.readouterr().out
    assert await asyncio.to_thread(main, cfg + ["status", "ORDER-E"]) == 0
    story = capsys.readouterr().out
    assert "[exception]" in story and "acknowledged" in story and "by maria" in story


async def test_unknown_alert_id_is_one_line_with_the_fix(tmp_path, settings, start_daemon, capsys):
    await start_daemon(settings)
    assert await asyncio.to_thread(main, ["--config", settings.source, "alerts", "ack", "42"]) == 2
    err = capsys.readouterr().err
    assert "no alert #42" in err and "tracker alerts" in err


async def test_alert_delivery_gives_up_after_max_attempts(tmp_path, start_daemon, clock, webhook, caplog):
    webhook["fail"] = 100
    settings = make_settings(tmp_path, **HOURLY, support_alerts={
        "webhook_url": webhook["url"], "max_attempts": 3, "backoff_base_seconds": 60, "backoff_max_seconds": 60})
    daemon = await start_daemon(settings)
    await add(daemon, "ORDER-F", "SBX-EXCEPTION-1", channels="email")
    for _ in range(30):
        await daemon.run_once()
        clock.advance(timedelta(hours=1))
    assert webhook["answers"] == [500, 500, 500]
    assert "could not be delivered after 3 attempts" in caplog.text
