"""The daemon with real carrier modules against the fake: pauses, rate limits, not-found expiry, failures."""

import logging
from datetime import timedelta

from tests.carriers.conftest import HOURLY, NUMBERS
from tests.fakes.carriers import deliver_journey, journey
from tests.helpers import add, make_settings, notifications, sent, shipment, walk
from tracker.story import order_story


def config(fake, *names, **sections):
    return {"carriers": {n: fake.settings(n) for n in names}, **HOURLY, **sections}


async def test_refused_credentials_pause_that_carrier_only(tmp_path, start_daemon, clock, fake, caplog):
    fake.add("ups", NUMBERS["ups"], deliver_journey())
    fake.add("fedex", NUMBERS["fedex"], deliver_journey())
    settings = make_settings(tmp_path, **config(fake, "ups", "fedex"))
    daemon = await start_daemon(settings)
    ups = await add(daemon, "ORDER-U", NUMBERS["ups"], carrier=None, phone=None)
    fedex = await add(daemon, "ORDER-F", NUMBERS["fedex"], carrier=None, phone=None)
    await walk(daemon, clock, 3)
    fake.revoke("ups")                      # the shop's UPS credentials stop working
    await walk(daemon, clock, 3)
    ups_calls = fake.carriers["ups"].calls
    await walk(daemon, clock, 34)

    assert fake.carriers["ups"].calls == ups_calls          # paused: no more calls to UPS
    assert sent(await notifications(daemon.engine, fedex.id)) == [   # FedEx carried on to the end
        ("shipped", "email"), ("out_for_delivery", "email"), ("delivered", "email")]
    assert sent(await notifications(daemon.engine, ups.id)) == [("shipped", "email")]
    story = await order_story(daemon.engine, "ORDER-U", settings)
    assert "CARRIER PAUSED" in story and "UPS" in story
    assert "[carrier_auth]" in story
    assert sum("carrier ups paused" in r.getMessage() for r in caplog.records) == 1
    secret = fake.carriers["ups"].credentials["client_secret"]
    assert all(secret not in r.getMessage() for r in caplog.records)
    assert (await shipment(daemon.engine, fedex.id)).status == "delivered"


async def test_429_retry_after_is_honoured(tmp_path, start_daemon, clock, fake):
    fake.add("dhl", NUMBERS["dhl"], deliver_journey())
    daemon = await start_daemon(make_settings(tmp_path, **config(fake, "dhl")))
    ship = await add(daemon, "ORDER-D", NUMBERS["dhl"], carrier=None, phone=None)
    fake.fail("dhl", "429", retry_after="7200")
    await daemon.run_once()
    assert fake.carriers["dhl"].calls == 1
    after = await shipment(daemon.engine, ship.id)
    assert after.next_check_at.replace(tzinfo=None) == (clock.now() + timedelta(hours=2)).replace(tzinfo=None)
    clock.advance(timedelta(hours=1, minutes=59))
    await daemon.run_once()
    assert fake.carriers["dhl"].calls == 1   # still cooling down
    clock.advance(timedelta(minutes=1))
    await daemon.run_once()
    assert fake.carriers["dhl"].calls == 2
    assert (await shipment(daemon.engine, ship.id)).status == "in_transit"   # picked up meanwhile


async def test_a_429_one_daemon_got_makes_every_daemon_wait(tmp_path, start_daemon, clock, fake):
    # two daemons poll DHL from one database; the carrier tells the first to wait two hours: the second,
    # which the carrier told nothing, waits too (from the shared carrier_states row)
    from sqlalchemy import update

    from tracker.db import sessionmaker
    from tracker.models import Shipment
    from tracker.poller import Poller

    fake.add("dhl", NUMBERS["dhl"], deliver_journey())
    daemon = await start_daemon(make_settings(tmp_path, **config(fake, "dhl")))
    ship = await add(daemon, "ORDER-D", NUMBERS["dhl"], carrier=None, phone=None)
    other = Poller(engine=daemon.engine, settings=daemon.settings.poller, carriers=daemon._build_carriers(),
                   clock=clock, owner="other-daemon")
    try:
        fake.fail("dhl", "429", retry_after="7200")
        await daemon.run_once()
        assert fake.carriers["dhl"].calls == 1
        async with sessionmaker(daemon.engine)() as session, session.begin():  # due again now, for the other
            await session.execute(update(Shipment).where(Shipment.id == ship.id).values(next_check_at=clock.now()))
        await other.tick()
        assert fake.carriers["dhl"].calls == 1  # the other daemon waits out what the carrier told the first
        clock.advance(timedelta(hours=2))
        await other.tick()
        assert fake.carriers["dhl"].calls == 2
        assert (await shipment(daemon.engine, ship.id)).status == "in_transit"
    finally:
        for rt in other.carriers.values():
            rt.limiter.close()
            await rt.carrier.aclose()


async def test_not_found_stays_pending_then_expires_with_an_alert(tmp_path, start_daemon, clock, fake, capsys):
    settings = make_settings(tmp_path, **config(fake, "correios", poller={
        "jitter": 0, "expire_after_days": 2, "backoff_max_seconds": 6 * 3600,
        "intervals": {"pending": 3600}}))
    daemon = await start_daemon(settings)
    ship = await add(daemon, "ORDER-B", NUMBERS["correios"], carrier=None, phone=None)
    await walk(daemon, clock, 24)
    mid = await shipment(daemon.engine, ship.id)
    assert mid.status == "pending" and mid.next_check_at is not None
    assert "not known to the carrier yet" in (mid.last_error or "")
    await walk(daemon, clock, 36)
    final = await shipment(daemon.engine, ship.id)
    assert final.status == "expired" and final.next_check_at is None
    story = await order_story(daemon.engine, "ORDER-B", settings)
    assert "[expired]" in story and "still unknown to the carrier after 2 days" in story
    calls = fake.carriers["correios"].calls
    assert 4 <= calls < 24                      # polled with backoff, not every hour
    await walk(daemon, clock, 10)
    assert fake.carriers["correios"].calls == calls
    assert "· ORDER-B ·" not in capsys.readouterr().out   # nothing told to the customer


async def test_a_failing_carrier_is_logged_once_and_recovers(tmp_path, start_daemon, clock, fake, caplog):
    fake.add("usps", NUMBERS["usps"], deliver_journey())
    daemon = await start_daemon(make_settings(tmp_path, **config(fake, "usps")))
    ship = await add(daemon, "ORDER-S", NUMBERS["usps"], carrier=None, phone=None)
    fake.fail("usps", "503")
    fake.fail("usps", "html")
    fake.fail("usps", "garbage")
    with caplog.at_level(logging.INFO, logger="tracker.poller"):
        await walk(daemon, clock, 40)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("carrier usps is failing" in m for m in messages) == 1
    assert sum("carrier usps recovered" in m for m in messages) == 1
    assert (await shipment(daemon.engine, ship.id)).status == "delivered"
    assert sent(await notifications(daemon.engine, ship.id))[-1] == ("delivered", "email")


async def test_unknown_code_is_recorded_and_logged_not_announced(tmp_path, start_daemon, clock, fake, caplog):
    fake.add("fedex", NUMBERS["fedex"], journey("label", "unknown", every_hours=1))
    settings = make_settings(tmp_path, **config(fake, "fedex"))
    daemon = await start_daemon(settings)
    ship = await add(daemon, "ORDER-Q", NUMBERS["fedex"], carrier=None, phone=None)
    with caplog.at_level(logging.WARNING):
        await walk(daemon, clock, 4)
    assert sum("unknown status code 'ZZ'" in r.getMessage() for r in caplog.records) == 1
    assert (await shipment(daemon.engine, ship.id)).status == "info_received"
    assert sent(await notifications(daemon.engine, ship.id)) == []
    story = await order_story(daemon.engine, "ORDER-Q", settings)
    assert "unknown" in story and "Mystery scan" in story


async def test_a_slow_paced_carrier_defers_instead_of_blocking_the_others(tmp_path, start_daemon, clock, fake):
    """USPS allows about one call a minute: extra numbers go back to the queue, FedEx is not held up."""
    numbers = ["9400111899223100001113", "9400111899223100001120", "9400111899223100001137"]
    for n in numbers:
        fake.add("usps", n, deliver_journey())
    fake.add("fedex", NUMBERS["fedex"], deliver_journey())
    usps = fake.settings("usps")
    del usps["rate_per_second"]                       # the documented default: 60 an hour
    settings = make_settings(tmp_path, carriers={"usps": usps, "fedex": fake.settings("fedex")}, **HOURLY)
    daemon = await start_daemon(settings)
    ships = [await add(daemon, f"ORDER-{i}", n, carrier="usps", phone=None) for i, n in enumerate(numbers)]
    fedex = await add(daemon, "ORDER-F", NUMBERS["fedex"], carrier=None, phone=None)
    await daemon.run_once()
    assert fake.carriers["usps"].calls == 1 and fake.carriers["fedex"].calls == 1
    waiting = [await shipment(daemon.engine, s.id) for s in ships]
    assert sum(s.last_checked_at is None for s in waiting) == 2
    assert all(s.next_check_at is not None and s.next_check_at.replace(tzinfo=None) > clock.now().replace(tzinfo=None)
               for s in waiting)
    assert (await shipment(daemon.engine, fedex.id)).status == "info_received"



async def test_a_status_without_scans_moves_the_shipment_and_is_announced(tmp_path, start_daemon, clock, fake):
    """UPS currentStatus, FedEx latestStatusDetail and USPS statusCategory count even when no scan comes."""
    numbers = {"ups": NUMBERS["ups"], "fedex": NUMBERS["fedex"], "usps": NUMBERS["usps"]}
    for carrier, number in numbers.items():
        fake.add(carrier, number, journey("in_transit", "out_for_delivery", "delivered", every_hours=12,
                                          scans=False))
    daemon = await start_daemon(make_settings(tmp_path, **config(fake, *numbers)))
    ships = {c: await add(daemon, f"ORDER-{c}", n, carrier=None, phone=None) for c, n in numbers.items()}
    await walk(daemon, clock, 2)
    for carrier, ship in ships.items():
        assert (await shipment(daemon.engine, ship.id)).status == "in_transit", carrier   # was left pending
        assert sent(await notifications(daemon.engine, ship.id)) == [("shipped", "email")], carrier
    await walk(daemon, clock, 30)
    for carrier, ship in ships.items():
        after = await shipment(daemon.engine, ship.id)
        assert after.status == "delivered" and after.delivered_at is not None, carrier
        assert sent(await notifications(daemon.engine, ship.id)) == [
            ("shipped", "email"), ("out_for_delivery", "email"), ("delivered", "email")], carrier
