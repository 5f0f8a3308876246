"""Registering numbers for pushes: batched within the source's limits, failures retried with backoff,
shown in `tracker status --carriers` and /metrics, alerted once; quota exhaustion; renewals; stops."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.fakes.seventeentrack import FakeSeventeenTrack
from tests.fakes.ups_trackalert import FakeUPSTrackAlert
from tests.helpers import add, metric, seed_shipments, shipment
from tests.test_sources_bad_input import metrics
from tests.test_sources_push import start
from tracker.db import sessionmaker
from tracker.models import Alert, Shipment, SourceSubscription
from tracker.story import carriers_story


async def subscriptions(daemon) -> list[SourceSubscription]:
    async with sessionmaker(daemon.engine)() as session:
        return list((await session.execute(select(SourceSubscription).order_by(SourceSubscription.id))).scalars())


async def alerts(daemon) -> list[Alert]:
    async with sessionmaker(daemon.engine)() as session:
        return list((await session.execute(select(Alert).order_by(Alert.id))).scalars())


async def seed(daemon, count: int, clock) -> None:
    await seed_shipments(daemon.engine, count, tracking="JD{i:018d}", now=clock.now(), carrier="jadlog")
    async with sessionmaker(daemon.engine)() as session, session.begin():
        await session.execute(Shipment.__table__.update().values(source="17track"))


async def test_registration_batches_40_a_request_at_3_a_second(tmp_path, start_daemon, clock, fakes):
    async with FakeSeventeenTrack(now=clock.now) as fake:
        daemon = await start(tmp_path, start_daemon, fake, fakes)
        await seed(daemon, 250, clock)
        await daemon.run_once()
        sizes = [n for e, n in fake.requests if e == "register"]
        assert sizes == [40, 40, 40, 40, 40, 40, 10]
        assert fake.over_limit == 0 and fake.max_in_a_second <= 3 and fake.too_many_in_request == 0
        assert {s.state for s in await subscriptions(daemon)} == {"active"}


async def test_failures_are_retried_shown_and_alerted_once(tmp_path, start_daemon, clock, fakes):
    async with FakeSeventeenTrack(now=clock.now) as fake:
        daemon = await start(tmp_path, start_daemon, fake, fakes, sources={"quota_check_hours": 1000})
        await daemon.run_once()  # quota read at start
        ship = await add(daemon, "BR-1", "10082700123456", carrier="jadlog", locale="pt-BR", phone=None,
                         email="j@example.com.br")
        fake.fail_next(503)
        fake.fail_next(429, retry_after="30")
        fake.malformed_next()
        fake.fail_next(500)
        for _ in range(4):
            await daemon.run_once()
            clock.advance(timedelta(hours=7))
        sub, = await subscriptions(daemon)
        assert sub.state == "pending" and sub.attempts == 4 and "500" in sub.error
        story = await carriers_story(daemon.engine, daemon.settings, clock.now())
        assert "17track" in story and "FAILING" in story and "1 pending" in story
        assert any(line.startswith("17track") and line.split()[3] == "1" for line in story.splitlines())  # watched
        from tracker.story import order_story
        assert "Shipment jadlog via 17track 10082700123456" in await order_story(daemon.engine, "BR-1",
                                                                                 daemon.settings)
        assert metric(await metrics(daemon), "tracker_source_failing", source="17track") == 1
        assert [a.cause for a in await alerts(daemon)] == ["source_failing"]  # once, not per attempt

        clock.advance(timedelta(hours=7))
        await daemon.run_once()
        sub, = await subscriptions(daemon)
        assert sub.state == "active" and sub.attempts == 0
        assert "FAILING" not in await carriers_story(daemon.engine, daemon.settings, clock.now())
        assert len(await alerts(daemon)) == 1
        row = await shipment(daemon.engine, ship.id)
        assert row.push_heard_at == clock.now() and row.next_check_at == clock.now() + timedelta(hours=48)


async def test_quota_exhaustion_waits_for_quota_and_alerts_once(tmp_path, start_daemon, clock, fakes):
    async with FakeSeventeenTrack(now=clock.now, quota=1) as fake:
        daemon = await start(tmp_path, start_daemon, fake, fakes)
        for i, number in enumerate(("10082700000001", "10082700000002", "10082700000003")):
            await add(daemon, f"BR-{i}", number, carrier="jadlog", phone=None, email=f"c{i}@example.com")
        await daemon.run_once()
        states = sorted(s.state for s in await subscriptions(daemon))
        assert states == ["active", "pending", "pending"]
        clock.advance(timedelta(hours=2))  # the quota is read again
        await daemon.run_once()
        registered = fake.numbers_in("register")
        clock.advance(timedelta(hours=2))
        await daemon.run_once()
        assert fake.numbers_in("register") == registered  # no more tries while the quota is 0
        assert [a.cause for a in await alerts(daemon)] == ["source_quota"]
        assert "NO QUOTA" in await carriers_story(daemon.engine, daemon.settings, clock.now())
        assert metric(await metrics(daemon), "tracker_source_quota_remaining", source="17track") == 0
        fake.quota_total = 10  # the shop bought more
        clock.advance(timedelta(hours=2))
        await daemon.run_once()
        clock.advance(timedelta(hours=7))
        await daemon.run_once()
        assert {s.state for s in await subscriptions(daemon)} == {"active"}


async def test_a_refused_number_is_polled_instead(tmp_path, start_daemon, clock, fakes):
    async with FakeUPSTrackAlert(now=clock.now) as fake:
        daemon = await start(tmp_path, start_daemon, fake, fakes)
        ship = await add(daemon, "US-1", "1ZXXXXXXXXXXXXXXXX", carrier="ups", phone=None, email="a@example.com")
        fake.parcels.clear()
        async with sessionmaker(daemon.engine)() as session, session.begin():  # a number UPS will refuse
            await session.execute(Shipment.__table__.update().values(tracking_number="9400100000000000000000"))
        async with sessionmaker(daemon.engine)() as session, session.begin():
            await session.execute(SourceSubscription.__table__.delete())
        await daemon.run_once()
        sub, = await subscriptions(daemon)
        assert sub.state == "failed" and "refused" in sub.error
        assert fake.tracks >= 1  # polling took over at once
        assert [a.cause for a in await alerts(daemon)] == ["push_refused"]
        assert (await shipment(daemon.engine, ship.id)).push_heard_at is None


async def test_ups_subscriptions_are_renewed_before_they_lapse(tmp_path, start_daemon, clock, fakes):
    async with FakeUPSTrackAlert(now=clock.now) as fake:
        daemon = await start(tmp_path, start_daemon, fake, fakes)
        await add(daemon, "US-1", "1Z999AA10123456784", carrier="ups", phone=None, email="a@example.com")
        await daemon.run_once()
        sub, = await subscriptions(daemon)
        assert sub.expires_at == clock.now() + timedelta(days=14)
        clock.advance(timedelta(days=13, hours=1))
        await daemon.run_once()
        assert len(fake.subscriptions) == 2
        sub, = await subscriptions(daemon)
        assert sub.state == "active" and sub.expires_at == clock.now() + timedelta(days=14)


async def test_17track_stopping_a_number_hands_it_back_to_polling(tmp_path, start_daemon, clock, fakes):
    async with FakeSeventeenTrack(now=clock.now) as fake:
        daemon = await start(tmp_path, start_daemon, fake, fakes)
        ship = await add(daemon, "ES-1", "RR123456785ES", carrier=None, phone=None, email="l@example.es")
        await daemon.run_once()
        fake.scan_of("RR123456785ES", "transit")
        assert await fake.stop_pushing("RR123456785ES") == 200
        await daemon.inbox.tick()
        sub, = await subscriptions(daemon)
        assert sub.state == "stopped"
        row = await shipment(daemon.engine, ship.id)
        assert row.push_heard_at is None and row.next_check_at == clock.now()
        await daemon.run_once()
        assert fake.numbers_in("gettrackinfo") == 1
        assert (await shipment(daemon.engine, ship.id)).status == "in_transit"


@pytest.mark.postgres
async def test_push_journey_on_postgresql(pg_url, tmp_path, start_daemon, clock, fakes):
    from tests.test_sources_push import journey

    tw, _ = fakes
    async with FakeSeventeenTrack(now=clock.now) as fake:
        daemon = await start(tmp_path, start_daemon, fake, fakes, database={"url": pg_url})
        await add(daemon, "GR-1", "7200123456", carrier="acs", locale="el", phone="+306912345678", email=None)
        await daemon.run_once()
        await journey(daemon, clock, fake, ["7200123456"])
        assert len(tw.to("+306912345678")) == 3


async def test_the_support_console_shows_a_failing_source(tmp_path, start_daemon, clock, fakes):
    from tests.web_helpers import SUPPORT, Client, support_login

    async with FakeSeventeenTrack(now=clock.now) as fake:
        daemon = await start(tmp_path, start_daemon, fake, fakes, **SUPPORT)
        await add(daemon, "BR-1", "10082700123456", carrier="jadlog", phone=None, email="j@example.com.br")
        fake.fail_next(503, times=10)
        await daemon.run_once()
        client = Client(daemon)
        try:
            status, html = await support_login(client)
        finally:
            await client.close()
        assert status == 200 and "Push sources" in html
        assert "FAILING" in html and "1 pending" in html and "503" in html


async def test_a_429_retry_after_stops_every_register_request_to_that_source_for_that_long(
        tmp_path, start_daemon, clock, fakes):
    async with FakeSeventeenTrack(now=clock.now) as fake:
        daemon = await start(tmp_path, start_daemon, fake, fakes, sources={"quota_check_hours": 1000})
        await daemon.run_once()  # quota read at start
        await seed(daemon, 120, clock)  # three requests of 40
        fake.fail_next(429, retry_after="3")
        await daemon.subscriber.tick()
        assert [n for e, n in fake.requests if e == "register"] == [40]  # the other two wait, not sent 1 s later
        clock.advance(timedelta(seconds=2))
        await daemon.subscriber.tick()
        assert [n for e, n in fake.requests if e == "register"] == [40]
        other = type(daemon.subscriber)(engine=daemon.engine, settings=daemon.settings,
                                        sources={"17track": daemon.carriers["17track"]}, clock=clock)
        daemon.carriers["17track"].cooldown_until = None  # another daemon knows it from the database only
        await other.tick()
        assert [n for e, n in fake.requests if e == "register"] == [40]
        clock.advance(timedelta(seconds=1))
        await daemon.run_once()
        assert sorted(n for e, n in fake.requests if e == "register") == [40, 40, 40, 40]
        assert {s.state for s in await subscriptions(daemon)} == {"active"}
