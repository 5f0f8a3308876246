"""End to end on the embedded default: sandbox carrier -> poller -> outbox -> console channel."""

from datetime import timedelta

from tests.helpers import add, make_settings, notifications, sent, shipment, walk

HOURLY = {"poller": {"jitter": 0, "intervals": {k: 3600 for k in (
    "pending", "info_received", "in_transit", "out_for_delivery", "available_for_pickup", "failed_attempt",
    "exception")}}}


async def test_normal_delivery_announces_each_milestone_once(tmp_path, start_daemon, clock, capsys):
    daemon = await start_daemon(make_settings(tmp_path, **HOURLY))
    ship = await add(daemon, "ORDER-1001", "SBX-DELIVER-1")
    await walk(daemon, clock, 40)
    notes = await notifications(daemon.engine, ship.id)
    assert sent(notes) == [
        ("shipped", "sms"), ("shipped", "email"),
        ("out_for_delivery", "sms"), ("out_for_delivery", "email"),
        ("delivered", "sms"), ("delivered", "email"),
    ]
    out = capsys.readouterr().out
    assert out.count("· ORDER-1001 · delivered") == 2
    assert "+14155550101" not in out and "ana@example.com" not in out  # recipient redacted
    final = await shipment(daemon.engine, ship.id)
    assert final.status == "delivered" and final.next_check_at is None and final.signed_by == "J. DOE"


async def test_failed_attempt_journey_tells_the_customer_each_step(tmp_path, start_daemon, clock):
    daemon = await start_daemon(make_settings(tmp_path, **HOURLY))
    ship = await add(daemon, "ORDER-2", "SBX-FAILED-1", channels="sms")
    await walk(daemon, clock, 60)
    assert sent(await notifications(daemon.engine, ship.id)) == [
        ("shipped", "sms"), ("out_for_delivery", "sms"), ("failed_attempt", "sms"), ("delivered", "sms")]


async def test_exception_journey_says_what_happened(tmp_path, start_daemon, clock, capsys):
    daemon = await start_daemon(make_settings(tmp_path, **HOURLY))
    ship = await add(daemon, "ORDER-3", "SBX-EXCEPTION-1", channels="email")
    await walk(daemon, clock, 30)
    assert sent(await notifications(daemon.engine, ship.id)) == [("shipped", "email"), ("exception", "email")]
    out = capsys.readouterr().out
    assert "customs needs documents before releasing it" in out and "We are sorry" in out
    assert "Held at customs" not in out  # the carrier's words are for support (tracker/wording/)
    assert (await shipment(daemon.engine, ship.id)).status == "exception"


async def test_registered_already_delivered_stays_silent(tmp_path, start_daemon, clock):
    daemon = await start_daemon(make_settings(tmp_path, **HOURLY))
    start = int((clock.now() - timedelta(days=5)).timestamp())
    ship = await add(daemon, "ORDER-4", f"SBX-DELIVER-{start}")
    await walk(daemon, clock, 2)
    row = await shipment(daemon.engine, ship.id)
    assert row.status == "delivered" and row.next_check_at is None
    assert await notifications(daemon.engine, ship.id) == []


async def test_late_registration_sends_only_the_newest_news(tmp_path, start_daemon, clock):
    """Registered while already out for delivery: the customer hears 'out for delivery', not 'shipped' first."""
    daemon = await start_daemon(make_settings(tmp_path, **HOURLY))
    start = int((clock.now() - timedelta(hours=31)).timestamp())
    ship = await add(daemon, "ORDER-5", f"SBX-DELIVER-{start}", channels="sms")
    await daemon.run_once()
    assert sent(await notifications(daemon.engine, ship.id)) == [("out_for_delivery", "sms")]


async def test_queued_news_overtaken_before_sending_is_superseded(tmp_path, start_daemon, clock):
    daemon = await start_daemon(make_settings(tmp_path, **HOURLY))
    start = int((clock.now() - timedelta(hours=31)).timestamp())
    ship = await add(daemon, "ORDER-6", f"SBX-DELIVER-{start}", channels="sms")
    await daemon.poller.tick()  # out_for_delivery queued, not sent (dispatcher has not run)
    clock.advance(timedelta(hours=4))
    await daemon.poller.tick()  # delivered arrives before the dispatcher ran
    await daemon.run_once()
    notes = await notifications(daemon.engine, ship.id)
    assert [(n.milestone, n.state) for n in notes] == [("out_for_delivery", "suppressed"), ("delivered", "sent")]
    assert notes[0].error == "superseded by newer news"


async def test_unknown_number_stays_pending_with_backoff_then_expires(tmp_path, start_daemon, clock):
    settings = make_settings(tmp_path, poller={"expire_after_days": 3, "intervals": {"pending": 3600}})
    daemon = await start_daemon(settings)
    ship = await add(daemon, "ORDER-7", "SBX-NOTFOUND-1")
    await daemon.run_once()
    first = await shipment(daemon.engine, ship.id)
    assert first.status == "pending" and first.failures == 1
    waits = []
    for _ in range(3):
        row = await shipment(daemon.engine, ship.id)
        clock.set(row.next_check_at)
        await daemon.run_once()
        after = await shipment(daemon.engine, ship.id)
        waits.append((after.next_check_at - clock.now()).total_seconds())
    assert waits[0] < waits[2]  # backing off
    clock.advance(timedelta(days=4))
    await daemon.run_once()
    final = await shipment(daemon.engine, ship.id)
    assert final.status == "expired" and final.next_check_at is None
    from tracker.story import order_story
    story = await order_story(daemon.engine, "ORDER-7", settings)
    assert "[expired]" in story and "still unknown to the carrier" in story


async def test_outbox_uniqueness_is_enforced_by_the_database(settings, start_daemon):
    import pytest
    from sqlalchemy.exc import IntegrityError

    from tracker.db import sessionmaker
    from tracker.models import Notification

    daemon = await start_daemon(settings)
    ship = await add(daemon, "ORDER-8", "SBX-DELIVER-1")
    now = daemon.clock.now()
    row = dict(shipment_id=ship.id, order_id=ship.order_id, milestone="shipped", channel="sms", created_at=now,
               updated_at=now, next_attempt_at=now)
    async with sessionmaker(daemon.engine)() as session, session.begin():
        session.add(Notification(**row))
    with pytest.raises(IntegrityError):
        async with sessionmaker(daemon.engine)() as session, session.begin():
            session.add(Notification(**row))


async def test_add_is_idempotent_and_updates_contact(settings, start_daemon):
    daemon = await start_daemon(settings)
    first = await add(daemon, "ORDER-9", "SBX-DELIVER-1", email="old@example.com")
    again = await add(daemon, "ORDER-9", "sbx-deliver-1", email="new@example.com")
    assert first.id == again.id
    from tracker.db import sessionmaker
    from tracker.models import Order
    async with sessionmaker(daemon.engine)() as session:
        order = await session.get(Order, first.order_id)
    assert order.email == "new@example.com"
