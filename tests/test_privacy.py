"""Personal data has a lifetime: contact details are erased some days after the last delivery; the
anonymous history stays."""

from datetime import timedelta

from tests.helpers import add, make_settings, notifications, sent, walk
from tracker.db import sessionmaker
from tracker.models import Order, Shipment
from tracker.story import order_story

HOURLY = {"poller": {"intervals": {k: 3600 for k in ("pending", "info_received", "in_transit",
                                                     "out_for_delivery", "failed_attempt")}}}


async def order_of(daemon, number: str) -> Order:
    async with sessionmaker(daemon.engine)() as s:
        return (await s.execute(Order.__table__.select().where(Order.number == number))).one()


async def test_contacts_erased_after_the_configured_days_history_kept(tmp_path, start_daemon, clock):
    settings = make_settings(tmp_path, privacy={"erase_contact_after_days": 30}, **HOURLY)
    daemon = await start_daemon(settings)
    done = await add(daemon, "ORDER-1", "SBX-DELIVER-1")
    moving = await add(daemon, "ORDER-2", "SBX-SILENT-2")
    await walk(daemon, clock, 40)
    assert sent(await notifications(daemon.engine, done.id))[-1] == ("delivered", "email")

    clock.advance(timedelta(days=29))
    await daemon.run_once()
    assert (await order_of(daemon, "ORDER-1")).email == "ana@example.com"  # not yet

    clock.advance(timedelta(days=2))
    await daemon.run_once()
    erased = await order_of(daemon, "ORDER-1")
    assert erased.email is None and erased.phone is None and erased.erased_at is not None
    async with sessionmaker(daemon.engine)() as s:
        assert (await s.get(Shipment, done.id)).signed_by is None
    # the anonymous history stays: every message and its state, the carrier timeline
    assert len(sent(await notifications(daemon.engine, done.id))) == 6
    story = await order_story(daemon.engine, "ORDER-1", settings)
    assert "contact details erased" in story and "ana@example.com" not in story and "Delivered, front door" in story
    # a parcel still being tracked keeps its contact details
    assert (await order_of(daemon, "ORDER-2")).email == "ana@example.com"
    assert moving.id != done.id


async def test_erasure_can_be_turned_off(tmp_path, start_daemon, clock):
    daemon = await start_daemon(make_settings(tmp_path, privacy={"erase_contact_after_days": None}, **HOURLY))
    await add(daemon, "ORDER-1", "SBX-DELIVER-1")
    await walk(daemon, clock, 40)
    clock.advance(timedelta(days=400))
    await daemon.run_once()
    assert (await order_of(daemon, "ORDER-1")).email == "ana@example.com"
