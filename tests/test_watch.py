"""Watchers on the sandbox journeys: silence, late, problems and expiry each tell the customer and support
exactly once per period, and healthy shipments get nothing extra."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.helpers import add, make_settings, notifications, sent, shipment, walk
from tracker.db import sessionmaker
from tracker.models import Alert

HOURLY = {"poller": {"jitter": 0, "intervals": {k: 3600 for k in (
    "pending", "info_received", "in_transit", "out_for_delivery", "available_for_pickup", "failed_attempt",
    "exception")}}}


async def alerts_of(engine, shipment_id=None) -> list[tuple[str, str]]:
    async with sessionmaker(engine)() as session:
        stmt = select(Alert).order_by(Alert.id)
        if shipment_id is not None:
            stmt = stmt.where(Alert.shipment_id == shipment_id)
        return [(a.cause, a.message) for a in (await session.execute(stmt)).scalars()]


async def test_silent_carrier_still_on_its_way_once_per_period_and_one_alert(tmp_path, start_daemon, clock,
                                                                             capsys):
    # in transit from hour 2 (pickup), then the carrier goes quiet; the late check is off to keep this about
    # silence (the LATE journey covers lateness)
    daemon = await start_daemon(make_settings(tmp_path, **HOURLY, watch={"late": False}))
    ship = await add(daemon, "ORDER-S", "SBX-SILENT-1", channels="sms")
    await walk(daemon, clock, 73)  # 71 hours of silence: not yet
    assert sent(await notifications(daemon.engine, ship.id)) == [("shipped", "sms")]
    assert await alerts_of(daemon.engine) == []

    await walk(daemon, clock, 1)  # 72 hours: "still on its way" and one alert
    assert sent(await notifications(daemon.engine, ship.id)) == [("shipped", "sms"), ("silent", "sms")]
    [(cause, message)] = await alerts_of(daemon.engine)
    assert cause == "silent" and "ORDER-S" in message and "3 days" in message
    out = capsys.readouterr().out
    assert out.count("still on its way") == 1 and "we are keeping an eye on it" in out

    await walk(daemon, clock, 71)  # within the repeat period: nothing more
    assert len(sent(await notifications(daemon.engine, ship.id))) == 2

    await walk(daemon, clock, 1)  # a full period later and still silent: once more, alert not repeated
    notes = await notifications(daemon.engine, ship.id)
    assert sent(notes) == [("shipped", "sms"), ("silent", "sms"), ("silent#2", "sms")]
    assert [c for c, _ in await alerts_of(daemon.engine)] == ["silent"]
    assert capsys.readouterr().out.count("still on its way") == 1


async def test_pending_after_registration_is_silent_after_five_days(tmp_path, start_daemon, clock):
    daemon = await start_daemon(make_settings(tmp_path, watch={"late": False}))
    ship = await add(daemon, "ORDER-P", "SBX-NOTFOUND-1", channels="email")
    await daemon.run_once()
    clock.advance(timedelta(days=5) - timedelta(minutes=1))
    await daemon.run_once()
    assert await notifications(daemon.engine, ship.id) == []
    clock.advance(timedelta(minutes=1))
    await daemon.run_once()
    assert sent(await notifications(daemon.engine, ship.id)) == [("silent", "email")]
    assert [c for c, _ in await alerts_of(daemon.engine)] == ["silent"]


async def test_news_from_the_carrier_drops_a_still_waiting_silent_message(tmp_path, start_daemon, clock):
    daemon = await start_daemon(make_settings(tmp_path, watch={"silence_hours": {"in_transit": 10}}, **HOURLY))
    start = int((clock.now() - timedelta(hours=21)).timestamp())
    ship = await add(daemon, "ORDER-Q", f"SBX-DELIVER-{start}", channels="sms")
    await daemon.run_once()  # hour 21: in transit since 20
    clock.advance(timedelta(hours=10))
    await daemon.watcher.tick()  # silent for 10 hours: queued, dispatcher not run yet
    await daemon.poller.tick()  # hour 31: out for delivery
    await daemon.run_once()
    notes = await notifications(daemon.engine, ship.id)
    assert [(n.milestone, n.state) for n in notes if n.milestone.startswith("silent")] == [("silent", "suppressed")]
    assert ("out_for_delivery", "sms") in sent(notes)


async def test_late_parcel_gets_one_apology_with_the_new_estimate_and_one_alert(tmp_path, start_daemon, clock,
                                                                              capsys):
    daemon = await start_daemon(make_settings(tmp_path, watch={"date_moved": False}, **HOURLY))
    ship = await add(daemon, "ORDER-L", "SBX-LATE-1", channels="sms")
    await walk(daemon, clock, 57)  # first expected: Wednesday 4 March (hour 36); still that day
    row = await shipment(daemon.engine, ship.id)
    assert row.first_expected_delivery.isoformat() == "2026-03-04" and row.expected_delivery.isoformat() == "2026-03-06"
    assert sent(await notifications(daemon.engine, ship.id)) == [("shipped", "sms")]

    await walk(daemon, clock, 1)  # Thursday 00:00: the promised date has passed (hour 58)
    assert sent(await notifications(daemon.engine, ship.id)) == [("shipped", "sms"), ("delayed", "sms")]
    out = capsys.readouterr().out
    assert "sorry, order ORDER-L is running late. New estimate: Friday, March 6." in out
    [(cause, message)] = await alerts_of(daemon.engine)
    assert cause == "late" and "expected 2026-03-04" in message and "2026-03-06" in message

    await walk(daemon, clock, 40)  # delivered at hour 84: no second apology, no second alert
    assert sent(await notifications(daemon.engine, ship.id)) == [
        ("shipped", "sms"), ("delayed", "sms"), ("out_for_delivery", "sms"), ("delivered", "sms")]
    assert [c for c, _ in await alerts_of(daemon.engine)] == ["late"]


async def test_late_without_a_new_date_says_so(tmp_path, start_daemon, clock, capsys):
    """The SILENT journey's date (hour 72) passes with no new one: the apology gives no stale date."""
    daemon = await start_daemon(make_settings(tmp_path, **HOURLY, watch={"silence_hours": {"in_transit": None}}))
    ship = await add(daemon, "ORDER-N", "SBX-SILENT-1", channels="email")
    await walk(daemon, clock, 82)
    assert sent(await notifications(daemon.engine, ship.id)) == [("shipped", "email"), ("delayed", "email")]
    out = capsys.readouterr().out
    assert "has not given a new date yet" in out and "March 5" not in out.split("running late")[1]


async def test_exception_tells_customer_and_support_once(tmp_path, start_daemon, clock, capsys):
    daemon = await start_daemon(make_settings(tmp_path, **HOURLY))
    ship = await add(daemon, "ORDER-E", "SBX-EXCEPTION-1", channels="email")
    await walk(daemon, clock, 100)  # past its expected date too: an exception is not "late" on top
    assert sent(await notifications(daemon.engine, ship.id)) == [("shipped", "email"), ("exception", "email")]
    [(cause, message)] = await alerts_of(daemon.engine)
    assert cause == "exception" and "Held at customs: documents required" in message and "ORDER-E" in message
    # support reads the carrier's words and, truthfully, what the customer was told: to act
    assert "they must act" in message and "documents customs asks for" in message
    out = capsys.readouterr().out
    # the customer reads what happened and what to do in their words, never the carrier's
    assert "customs needs documents before releasing it" in out and "Please send the carrier the documents" in out
    assert "Held at customs" not in out and "You do not need to do anything" not in out


async def test_failed_attempt_and_pickup_say_where_and_until_when(tmp_path, start_daemon, clock, capsys):
    daemon = await start_daemon(make_settings(tmp_path, **HOURLY))
    ship = await add(daemon, "ORDER-K", "SBX-PICKUP-1", channels="sms")
    await walk(daemon, clock, 70)
    assert sent(await notifications(daemon.engine, ship.id)) == [
        ("shipped", "sms"), ("out_for_delivery", "sms"), ("failed_attempt", "sms"), ("available_for_pickup", "sms"),
        ("delivered", "sms")]
    out = capsys.readouterr().out
    # picked up at hour 36 (Wednesday 4 March, 02:00): kept seven days
    assert ("ready for pickup at ParcelShop, 12 Oak St, Portland, OR, until Wednesday, March 11. Bring a photo ID."
            in out)
    assert [c for c, _ in await alerts_of(daemon.engine)] == ["failed_attempt"]


async def test_expired_stops_polling_and_alerts_once(tmp_path, start_daemon, clock):
    settings = make_settings(tmp_path, **HOURLY, watch={"expire_after_days": 4, "late": False})
    daemon = await start_daemon(settings)
    ship = await add(daemon, "ORDER-X", "SBX-SILENT-1", channels="sms")
    await walk(daemon, clock, 24 * 4 + 2)  # last event at hour 2; 4 days later: expired
    row = await shipment(daemon.engine, ship.id)
    assert row.status == "expired" and row.next_check_at is None
    checked = row.last_checked_at
    await walk(daemon, clock, 24)
    assert (await shipment(daemon.engine, ship.id)).last_checked_at == checked  # polling stopped
    assert [c for c, _ in await alerts_of(daemon.engine)] == ["silent", "expired"]
    from tracker.story import order_story
    story = await order_story(daemon.engine, "ORDER-X", settings)
    assert "EXPIRED" in story and "[expired]" in story and "polling stopped" in story


async def test_healthy_shipments_get_nothing_extra(tmp_path, start_daemon, clock):
    daemon = await start_daemon(make_settings(tmp_path, **HOURLY))
    ok = await add(daemon, "ORDER-OK", "SBX-DELIVER-1", channels="sms")
    await walk(daemon, clock, 24 * 10)
    assert sent(await notifications(daemon.engine, ok.id)) == [
        ("shipped", "sms"), ("out_for_delivery", "sms"), ("delivered", "sms")]
    assert await alerts_of(daemon.engine) == []


@pytest.mark.postgres
async def test_watchers_on_postgresql(pg_url, tmp_path, start_daemon, clock):
    daemon = await start_daemon(make_settings(tmp_path, database_url=pg_url, **HOURLY))
    silent = await add(daemon, "ORDER-PS", "SBX-SILENT-1", channels="sms")
    late = await add(daemon, "ORDER-PL", "SBX-LATE-1", channels="sms")
    problem = await add(daemon, "ORDER-PE", "SBX-EXCEPTION-1", channels="sms")
    await walk(daemon, clock, 24 * 6 + 2)
    assert [m for m, _ in sent(await notifications(daemon.engine, silent.id))] == [
        "shipped", "silent", "delayed", "silent#2"]
    # the carrier moved the date before it passed: the customer heard the new date, so no apology on top
    assert [m for m, _ in sent(await notifications(daemon.engine, late.id))] == [
        "shipped", "date_moved@2026-03-06", "out_for_delivery", "delivered"]
    assert [m for m, _ in sent(await notifications(daemon.engine, problem.id))] == ["shipped", "exception"]
    async with sessionmaker(daemon.engine)() as session:
        causes = sorted((a.shipment_id, a.cause) for a in (await session.execute(select(Alert))).scalars())
    assert causes == sorted([(silent.id, "silent"), (silent.id, "late"), (late.id, "late"),
                             (problem.id, "exception")])


async def candidate_ids(daemon, sweep: str, clock) -> list[int]:
    async with sessionmaker(daemon.engine)() as session:
        return [s.id for s, _ in (await session.execute(daemon.watcher.candidates(sweep, clock.now()))).all()]


async def test_a_pass_reads_only_the_silent_and_late_shipments_due_not_those_already_told(tmp_path, start_daemon,
                                                                                         clock):
    # what was told and alerted is not read again each pass: each shipment carries its next look, which news
    # clears (a silent parcel: the next "still on its way"; a late one apologised for: none until news)
    daemon = await start_daemon(make_settings(tmp_path, watch={"date_moved": False}, **HOURLY))
    quiet = await add(daemon, "ORDER-Q", "SBX-SILENT-2", channels="sms")
    late = await add(daemon, "ORDER-L2", "SBX-LATE-2", channels="sms")
    await walk(daemon, clock, 58)  # the late one is apologised for at hour 58
    row = await shipment(daemon.engine, late.id)
    assert row.late_due_at is not None and row.late_due_at.year == 9999
    assert late.id not in await candidate_ids(daemon, "late", clock)

    await walk(daemon, clock, 16)  # the quiet one: silent at hour 74, told; next look a period later
    told = [n for n in await notifications(daemon.engine, quiet.id) if n.milestone == "silent"][0]
    row = await shipment(daemon.engine, quiet.id)
    assert row.silence_due_at == told.created_at + timedelta(hours=72)
    assert quiet.id not in await candidate_ids(daemon, "silence", clock)
    clock.advance(row.silence_due_at - clock.now())
    assert quiet.id in await candidate_ids(daemon, "silence", clock)  # due again: read, and told once more
    await daemon.run_once()
    assert [n.milestone for n in await notifications(daemon.engine, quiet.id)].count("silent#2") == 1
    assert quiet.id not in await candidate_ids(daemon, "silence", clock)

    await walk(daemon, clock, 30)  # the late one moves on (out for delivery, delivered): news clears its look
    row = await shipment(daemon.engine, late.id)
    assert row.status == "delivered" and row.late_due_at is None and row.silence_due_at is None
