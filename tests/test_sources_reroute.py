"""A shop that changes its routes (another aggregator, a carrier module added or removed) keeps telling its
customers: unfinished shipments move to the source the config now names at the next start, stop being
pushed by the old one, and each milestone still reaches the customer once. Counted at the fake Twilio."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.fakes.aftership import FakeAfterShip
from tests.fakes.seventeentrack import FakeSeventeenTrack
from tests.helpers import add, make_settings, shipment
from tests.messaging_env import messaging_sections, point_public_url
from tests.sources_env import point_webhooks, source_sections, sources_settings
from tracker.config import Settings
from tracker.db import sessionmaker
from tracker.models import Alert, SourceSubscription
from tracker.reroute import Move, fingerprint, plan


async def subscriptions(engine) -> list[tuple[str, str]]:
    async with sessionmaker(engine)() as session:
        return sorted((s.source, s.state) for s in (await session.execute(select(SourceSubscription))).scalars())


async def test_a_new_default_source_takes_over_unfinished_shipments(tmp_path, start_daemon, clock, fakes):
    tw, sg = fakes
    async with FakeSeventeenTrack(now=clock.now) as old, FakeAfterShip(now=clock.now) as new:
        first = await start_daemon(sources_settings(tmp_path, old, tw, sg), web_server=True)
        point_public_url(first)
        point_webhooks(first, old)
        ship = await add(first, "GR-1", "7200123456", carrier="acs", locale="el", phone="+306912345678",
                         email=None)
        await first.run_once()
        assert await old.scan("7200123456", "transit") == 200
        await first.run_once()
        assert len(tw.to("+306912345678")) == 1  # shipped, through 17TRACK
        await first.close()

        # the shop moves to AfterShip (17TRACK still configured, e.g. for the last weeks of its plan)
        clock.advance(timedelta(hours=1))
        moved = sources_settings(tmp_path, old, tw, sg, carriers=source_sections(new)["carriers"],
                                 sources={"default": "aftership"})
        second = await start_daemon(moved, web_server=True)
        point_public_url(second)
        point_webhooks(second, new)
        point_webhooks(second, old)
        row = await shipment(second.engine, ship.id)
        assert row.source == "aftership" and row.next_check_at <= clock.now()
        await second.run_once()
        assert old.numbers_in("stoptrack") == 1  # 17TRACK told to stop
        assert "7200123456" in new.parcels and new.parcels["7200123456"].id  # registered at AfterShip
        assert await subscriptions(second.engine) == [("17track", "stopped"), ("aftership", "active")]

        for kind in ("transit", "ofd", "delivered"):  # AfterShip repeats what 17TRACK told, then goes on
            assert await new.scan("7200123456", kind) == 200
            await second.run_once()
            clock.advance(timedelta(hours=1))
        assert await old.push(old.scan_of("7200123456", "delivered")) == 200  # a late push from 17TRACK
        await second.run_once()
        bodies = [m["Body"] for m in tw.to("+306912345678")]
        assert len(bodies) == 3, bodies  # shipped, out for delivery, delivered: once each
        assert all("ACS Courier" in b or "ACS" in b for b in bodies[:1])
        assert (await shipment(second.engine, ship.id)).status == "delivered"


async def test_shipments_no_source_serves_stay_and_raise_one_alert(tmp_path, start_daemon, clock, fakes):
    tw, sg = fakes
    async with FakeSeventeenTrack(now=clock.now) as old:
        first = await start_daemon(sources_settings(tmp_path, old, tw, sg))
        ship = await add(first, "ES-1", "RR123456785ES", carrier=None, locale="es", phone="+34612345678", email=None)
        await first.close()
        for i in range(2):  # restarted twice without any source for Correos: one alert
            daemon = await start_daemon(make_settings(tmp_path, **messaging_sections(tw, sg)))
            await daemon.run_once()
            if i == 0:
                await daemon.close()
        async with sessionmaker(daemon.engine)() as session:
            alerts = list((await session.execute(select(Alert))).scalars())
        assert [a.cause for a in alerts] == ["no_source"]
        assert "carriers.17track" in alerts[0].message and "sources.default" in alerts[0].message
        assert (await shipment(daemon.engine, ship.id)).source == "17track"  # kept: nothing lost


def test_plan_moves_only_to_a_running_source():
    s = Settings.model_validate({"carriers": {"17track": {"api_key": "k"}, "ups": {"client_id": "a",
                                                                                     "client_secret": "b"}},
                                 "sources": {"default": "17track", "routes": {"correios": "17track"}}})
    pairs = {("acs", "aftership"): 5, ("ups", "ups"): 7, ("correios", "correios"): 2, ("jadlog", "17track"): 1}
    running = {"17track", "ups"}
    assert plan(pairs, s, running) == [Move("acs", "aftership", "17track", 5), Move("correios", "correios", "17track", 2)]
    # the aggregator is disabled: shipments stay on a source that still runs, and are reported otherwise
    assert plan(pairs, s, {"ups"}) == [Move("acs", "aftership", None, 5), Move("correios", "correios", None, 2),
                                       Move("jadlog", "17track", None, 1)]


def test_the_routes_fingerprint_changes_with_what_routing_reads():
    def settings(**sources):
        return Settings.model_validate({"carriers": {"17track": {"api_key": "k"}}, "sources": sources})

    base = fingerprint(settings(default="17track"), {"17track"})
    assert fingerprint(settings(default="17track"), {"17track"}) == base  # a restart: nothing to scan
    assert fingerprint(settings(default=None), {"17track"}) != base
    assert fingerprint(settings(default="17track", routes={"acs": "17track"}), {"17track"}) != base
    assert fingerprint(settings(default="17track"), set()) != base  # the source was disabled
