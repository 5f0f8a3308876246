"""Pushes accepted in milliseconds, applied behind: a verified push is stored in the durable inbox and
answered 200 before it is applied; the same event again is answered 200 {"duplicate": true}; a push the
database cannot store right now is answered 503 with Retry-After, never 200; any daemon drains the inbox,
in order per shipment, and a push stored by a daemon that died is applied by the next one."""

from __future__ import annotations

import sqlite3

from tests.fakes.seventeentrack import FakeSeventeenTrack
from tests.fakes.tcp_proxy import TcpProxy
from tests.helpers import add, metric, notifications, shipment
from tests.test_sources_bad_input import metrics
from tests.test_sources_push import start
from tracker.inbox.drain import InboxDrain

NUMBER = "7200123456"


async def registered(tmp_path, start_daemon, fakes, fake, **extra):
    daemon = await start(tmp_path, start_daemon, fake, fakes, **extra)
    ship = await add(daemon, "GR-1", NUMBER, carrier="acs", locale="el", phone=None, email="e@example.gr")
    await daemon.run_once()
    return daemon, ship


def other_daemon(daemon, owner: str) -> InboxDrain:
    """Another daemon's drain on the same database (nothing shared in memory)."""
    return InboxDrain(engine=daemon.engine, carriers=daemon.carriers, poller=daemon.poller,
                      settings=daemon.settings.sources.inbox, clock=daemon.clock, owner=owner)


async def test_a_push_is_stored_and_answered_before_it_is_applied_then_any_daemon_applies_it(
        tmp_path, start_daemon, clock, fakes):
    async with FakeSeventeenTrack(now=clock.now) as fake:
        daemon, ship = await registered(tmp_path, start_daemon, fakes, fake)
        assert await fake.scan(NUMBER, "transit") == 200 and fake.answers[-1] == {"stored": True}
        assert (await shipment(daemon.engine, ship.id)).status == "pending"  # answered, not applied yet
        clock.advance(30)
        text = await metrics(daemon)
        assert metric(text, "tracker_push_inbox_depth") == 1
        assert metric(text, "tracker_push_inbox_age_seconds") == 30
        assert metric(text, "tracker_pushes_total", source="17track", outcome="stored") == 1

        body = fake.pushed[-1][1]  # the source retries (its answer was lost): recognised, never 403
        assert await fake.push(fake.parcels[NUMBER], body=body) == 200
        assert fake.answers[-1] == {"duplicate": True}

        assert await other_daemon(daemon, "second").tick() == 1  # another daemon drains it
        assert (await shipment(daemon.engine, ship.id)).status == "in_transit"
        await daemon.run_once()
        assert [n.milestone for n in await notifications(daemon.engine)] == ["shipped"]
        assert await fake.push(fake.parcels[NUMBER], body=body) == 200  # applied: still a duplicate
        assert fake.answers[-1] == {"duplicate": True}
        text = await metrics(daemon)
        assert metric(text, "tracker_push_inbox_depth") == 0
        assert metric(text, "tracker_push_inbox_age_seconds") == 0
        assert metric(text, "tracker_pushes_total", source="17track", outcome="duplicate") == 2


async def test_pushes_for_one_shipment_are_applied_in_the_order_they_arrived(tmp_path, start_daemon, clock, fakes):
    async with FakeSeventeenTrack(now=clock.now) as fake:
        daemon, ship = await registered(tmp_path, start_daemon, fakes, fake)
        for kind in ("transit", "ofd", "delivered"):
            assert await fake.scan(NUMBER, kind) == 200
            clock.advance(60)
        first, second = other_daemon(daemon, "a"), other_daemon(daemon, "b")
        assert await first.tick() == 1  # only the oldest push of a shipment is taken ...
        assert await second.tick() == 1  # ... the next one once it is applied
        assert (await shipment(daemon.engine, ship.id)).status == "out_for_delivery"
        assert await first.tick() == 1 and await second.tick() == 0
        assert (await shipment(daemon.engine, ship.id)).status == "delivered"


async def test_a_push_stored_by_a_daemon_that_died_is_applied_by_the_next(tmp_path, start_daemon, clock, fakes):
    async with FakeSeventeenTrack(now=clock.now) as fake:
        daemon, ship = await registered(tmp_path, start_daemon, fakes, fake)
        dying = other_daemon(daemon, "dying")
        assert await fake.scan(NUMBER, "transit") == 200
        claimed = await dying._claim(clock.now())  # it took the push and was killed before applying it
        assert len(claimed) == 1
        assert await other_daemon(daemon, "next").tick() == 0  # leased: not taken twice meanwhile
        clock.advance(daemon.settings.sources.inbox.lease_seconds + 1)
        assert await other_daemon(daemon, "next").tick() == 1
        assert (await shipment(daemon.engine, ship.id)).status == "in_transit"
        await dying._handle(claimed[0])  # the dead one's late attempt changes nothing
        await daemon.run_once()
        assert [n.milestone for n in await notifications(daemon.engine)] == ["shipped"]


async def test_a_push_sqlite_cannot_store_now_is_answered_503_with_retry_after(tmp_path, start_daemon, clock, fakes):
    async with FakeSeventeenTrack(now=clock.now) as fake:
        daemon, ship = await registered(tmp_path, start_daemon, fakes, fake,
                                        sources={"inbox": {"store_timeout_seconds": 0.5, "retry_after_seconds": 7}})
        blocker = sqlite3.connect(tmp_path / "tracker.db", timeout=1)
        try:
            blocker.execute("BEGIN IMMEDIATE")  # another writer holds SQLite's lock
            assert await fake.scan(NUMBER, "transit") == 503
            assert fake.retry_afters[-1] == "7"
        finally:
            blocker.rollback()
            blocker.close()
        # the source retries while answered 503 (the retry too has 0.5 s, which a loaded machine can miss);
        # never any other answer
        body = fake.pushed[-1][1]
        while await fake.push(fake.parcels[NUMBER], body=body) != 200:
            assert fake.pushed[-1][0] == 503 and fake.retry_afters[-1] == "7"
        await daemon.run_once()
        assert (await shipment(daemon.engine, ship.id)).status == "in_transit"
        refused = sum(1 for status, _ in fake.pushed if status == 503)  # each 503 counted
        assert metric(await metrics(daemon), "tracker_pushes_total", source="17track", outcome="unavailable") == refused


async def test_a_push_postgres_cannot_store_now_is_answered_503(tmp_path, start_daemon, clock, fakes, pg_url):
    host, rest = pg_url.split("@", 1)[1].split(":", 1)
    port, name = rest.split("/", 1)
    async with TcpProxy(host, int(port)) as proxy, FakeSeventeenTrack(now=clock.now) as fake:
        url = f"{pg_url.split('@')[0]}@127.0.0.1:{proxy.port}/{name}"
        daemon, ship = await registered(tmp_path, start_daemon, fakes, fake, database={"url": url},
                                        sources={"inbox": {"store_timeout_seconds": 1}})
        proxy.cut()
        assert await fake.scan(NUMBER, "transit") == 503 and fake.retry_afters[-1] == "5"
        proxy.restore()
        # the pool notices the cut on its first statement, then reconnects: the source retries while answered
        # 503 (a loaded machine can need more than three 1 s tries), never any other answer
        body = fake.pushed[-1][1]
        while await fake.push(fake.parcels[NUMBER], body=body) != 200:
            assert fake.pushed[-1][0] == 503 and fake.retry_afters[-1] == "5"
        assert fake.answers[-1] in ({"stored": True}, {"duplicate": True})
        await daemon.run_once()
        assert (await shipment(daemon.engine, ship.id)).status == "in_transit"


async def test_on_postgresql_a_push_is_stored_once_and_its_retries_are_duplicates_before_and_after_applying(
        tmp_path, start_daemon, clock, fakes, pg_url):
    # PostgreSQL stores a group of pushes in one statement: the same answers as SQLite's path
    async with FakeSeventeenTrack(now=clock.now) as fake:
        daemon, ship = await registered(tmp_path, start_daemon, fakes, fake, database={"url": pg_url})
        assert await fake.scan(NUMBER, "transit") == 200 and fake.answers[-1] == {"stored": True}
        body = fake.pushed[-1][1]
        assert await fake.push(fake.parcels[NUMBER], body=body) == 200
        assert fake.answers[-1] == {"duplicate": True}
        assert (await shipment(daemon.engine, ship.id)).status == "pending"
        await daemon.run_once()
        assert (await shipment(daemon.engine, ship.id)).status == "in_transit"
        assert await fake.push(fake.parcels[NUMBER], body=body) == 200  # applied: still a duplicate
        assert fake.answers[-1] == {"duplicate": True}
        text = await metrics(daemon)
        assert metric(text, "tracker_pushes_total", source="17track", outcome="stored") == 1
        assert metric(text, "tracker_pushes_total", source="17track", outcome="duplicate") == 2
        assert [n.milestone for n in await notifications(daemon.engine)] == ["shipped"]
