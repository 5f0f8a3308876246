"""Carrier health lives in the database: status --carriers, the order's story, /metrics and the support
console tell the truth whichever process asks, and a pause lifts once a call succeeds."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.carriers.conftest import HOURLY, NUMBERS
from tests.fakes.carriers import deliver_journey
from tests.helpers import add, make_settings, walk
from tests.procs import Daemons
from tests.test_metrics import value
from tests.web_helpers import SUPPORT, Client, support_login
from tracker.db import sessionmaker
from tracker.models import Alert, CarrierState
from tracker.story import carriers_story, order_story


def config(fake, *names, **sections):
    return {"carriers": {n: fake.settings(n) for n in names}, **HOURLY, **sections}


async def failures(daemon, carrier: str) -> int:
    async with sessionmaker(daemon.engine)() as s:
        return (await s.get(CarrierState, carrier)).failures


def line_of(text: str, carrier: str) -> str:
    return next(ln for ln in text.splitlines() if ln.startswith(carrier + " "))


async def test_a_carrier_whose_every_call_fails_is_failing_everywhere_then_ok(tmp_path, start_daemon, clock, fake):
    fake.add("dhl", NUMBERS["dhl"], deliver_journey())
    settings = make_settings(tmp_path, server={"enabled": False, "port": 0, "host": "127.0.0.1"},
                             **config(fake, "dhl"), **SUPPORT)
    daemon = await start_daemon(settings, web_server=True)
    await add(daemon, "ORDER-D", NUMBERS["dhl"], carrier=None, phone=None)
    fake.fail("dhl", "503", times=200)
    started = clock.now()
    await walk(daemon, clock, 6)

    # what a second process (the CLI) reads: the database, not the daemon's memory
    line = line_of(await carriers_story(daemon.engine, settings, clock.now()), "dhl")
    assert " FAILING " in line and f"since {started:%Y-%m-%d %H:%M}" in line
    assert "failed calls" in line and "503" in line and "next try" in line
    async with Daemons(tmp_path) as cli:  # the CLI itself, in its own process
        assert " FAILING " in line_of((await cli.run("status", "--carriers")).stdout(), "dhl")
    c = Client(daemon)
    try:
        _, text, _ = await c.request("GET", "/metrics")
        assert value(text, "tracker_carrier_failing", carrier="dhl") == 1
        assert value(text, "tracker_carrier_failures", carrier="dhl") >= 2
        assert value(text, "tracker_carrier_failing_seconds", carrier="dhl") > 3600
        await support_login(c)
        _, html, _ = await c.request("GET", "/support")
        assert 'id="carrier-trouble"' in html and "FAILING" in html and "503" in html

        fake.carriers["dhl"].faults.clear()  # the carrier answers again
        clock.advance(timedelta(days=1))
        await walk(daemon, clock, 2)
        assert " ok " in line_of(await carriers_story(daemon.engine, settings, clock.now()), "dhl")
        _, text, _ = await c.request("GET", "/metrics")
        assert value(text, "tracker_carrier_failing", carrier="dhl") == 0
        _, html, _ = await c.request("GET", "/support")
        assert 'id="carrier-trouble"' not in html
    finally:
        await c.close()


async def paused_ups(tmp_path, start_daemon, clock, fake):
    """A daemon whose UPS credentials were refused after ORDER-U was registered: UPS is paused."""
    fake.add("ups", NUMBERS["ups"], deliver_journey())
    settings = make_settings(tmp_path, **config(fake, "ups"))
    daemon = await start_daemon(settings)
    await add(daemon, "ORDER-U", NUMBERS["ups"], carrier=None, phone=None)
    fake.revoke("ups")
    await walk(daemon, clock, 3)
    assert " PAUSED " in line_of(await carriers_story(daemon.engine, settings, clock.now()), "ups")
    return settings, daemon


async def test_a_pause_for_refused_credentials_lifts_once_a_call_succeeds(tmp_path, start_daemon, clock, fake):
    settings, daemon = await paused_ups(tmp_path, start_daemon, clock, fake)
    assert "CARRIER PAUSED" in await order_story(daemon.engine, "ORDER-U", settings)
    async with sessionmaker(daemon.engine)() as s:
        alert = (await s.execute(select(Alert).where(Alert.cause == "carrier_auth"))).scalar_one()
    assert "environment variables" in alert.message and "carriers.ups" in alert.message
    tries = await failures(daemon, "ups")
    await walk(daemon, clock, 10)
    assert tries + 2 <= await failures(daemon, "ups") <= tries + 6  # tried again now and then, not every tick

    fake.revoke("ups", False)  # the shop fixed its credentials
    await walk(daemon, clock, 8)
    assert " ok " in line_of(await carriers_story(daemon.engine, settings, clock.now()), "ups")
    story = await order_story(daemon.engine, "ORDER-U", settings)
    assert "CARRIER PAUSED" not in story and "Arrived at Facility" in story  # and the parcel moves on
    async with sessionmaker(daemon.engine)() as s:
        settled = (await s.execute(select(Alert).where(Alert.cause == "carrier_auth"))).scalar_one()
    assert settled.acked_at is not None and settled.acked_by == "tracker: calls succeed again"
    fake.revoke("ups")  # refused again later: support hears of it again
    await walk(daemon, clock, 2)
    async with sessionmaker(daemon.engine)() as s:
        raised = (await s.execute(select(Alert).where(Alert.cause == "carrier_auth"))).scalars().all()
    assert len(raised) == 2 and raised[-1].acked_at is None


async def test_a_pause_written_before_a_restart_is_lifted_by_the_first_good_call(tmp_path, start_daemon, clock,
                                                                                 fake):
    settings, daemon = await paused_ups(tmp_path, start_daemon, clock, fake)
    await daemon.close()

    fake.revoke("ups", False)  # credentials fixed, daemon restarted
    again = await start_daemon(settings)
    await walk(again, clock, 2)
    assert " ok " in line_of(await carriers_story(again.engine, settings, clock.now()), "ups")
    assert "CARRIER PAUSED" not in await order_story(again.engine, "ORDER-U", settings)
