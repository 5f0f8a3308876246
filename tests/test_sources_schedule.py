"""Push first, polling as the fallback: while a source pushes, a shipment is polled only as a safety check;
when its pushes go quiet longer than its status makes likely, polling takes over again, and the silence
watcher still speaks up."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.fakes.seventeentrack import FakeSeventeenTrack
from tests.helpers import add, notifications, sent, shipment
from tests.test_sources_push import start
from tracker.config import PushQuietHours
from tracker.schedule import next_check_pushed

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
POLLED = NOW + timedelta(hours=3)


def test_a_pushed_shipment_waits_for_the_quiet_limit_of_its_status():
    quiet = PushQuietHours()
    assert next_check_pushed("in_transit", NOW, NOW, quiet, POLLED) == NOW + timedelta(hours=48)
    assert next_check_pushed("out_for_delivery", NOW, NOW, quiet, POLLED) == NOW + timedelta(hours=8)
    heard = NOW - timedelta(hours=47)
    assert next_check_pushed("in_transit", NOW, heard, quiet, POLLED) == NOW + timedelta(hours=1)


def test_polling_takes_over_when_pushes_are_overdue_or_never_came():
    quiet = PushQuietHours()
    assert next_check_pushed("in_transit", NOW, NOW - timedelta(hours=49), quiet, POLLED) == POLLED
    assert next_check_pushed("in_transit", NOW, None, quiet, POLLED) == POLLED
    assert next_check_pushed("delivered", NOW, NOW, quiet, POLLED) is None
    assert next_check_pushed("in_transit", NOW, NOW, PushQuietHours(in_transit=None), POLLED) == POLLED


async def test_quiet_pushes_hand_the_shipment_back_to_polling(tmp_path, start_daemon, clock, fakes):
    tw, _ = fakes
    async with FakeSeventeenTrack(now=clock.now) as fake:
        daemon = await start(tmp_path, start_daemon, fake, fakes, sources={"quota_check_hours": 1000})
        ship = await add(daemon, "ES-1", "RR123456785ES", carrier=None, locale="es", phone="+34612345678", email=None)
        await daemon.run_once()
        assert await fake.scan("RR123456785ES", "transit") == 200
        await daemon.run_once()
        for _ in range(47):  # pushes stop coming; the carrier keeps scanning
            clock.advance(timedelta(hours=1))
            await daemon.poller.tick()
        fake.scan_of("RR123456785ES", "ofd")
        assert fake.numbers_in("gettrackinfo") == 0
        clock.advance(timedelta(hours=1, minutes=1))
        await daemon.run_once()  # the safety check finds what was never pushed
        assert fake.numbers_in("gettrackinfo") == 1
        assert sent(await notifications(daemon.engine, ship.id)) == [("shipped", "sms"), ("out_for_delivery", "sms")]
        row = await shipment(daemon.engine, ship.id)
        assert row.next_check_at <= clock.now() + timedelta(hours=1)  # polled at the ordinary pace from now on
        clock.advance(timedelta(hours=1))
        await daemon.run_once()
        assert fake.numbers_in("gettrackinfo") == 2
        assert await fake.scan("RR123456785ES", "delivered") == 200  # a push: push first again
        await daemon.run_once()
        assert len(tw.to("+34612345678")) == 3


async def test_the_silence_watcher_still_works_for_pushed_shipments(tmp_path, start_daemon, clock, fakes):
    async with FakeSeventeenTrack(now=clock.now) as fake:
        daemon = await start(tmp_path, start_daemon, fake, fakes, sources={"quota_check_hours": 1000})
        ship = await add(daemon, "GR-1", "7200123456", carrier="acs", locale="el", phone=None, email="e@example.gr")
        await daemon.run_once()
        assert await fake.scan("7200123456", "transit") == 200
        for _ in range(10):  # neither pushes nor scans for 80 hours
            clock.advance(timedelta(hours=8))
            await daemon.run_once()
        milestones = [m for m, _ in sent(await notifications(daemon.engine, ship.id))]
        assert milestones[:2] == ["shipped", "silent"]
