"""Each real carrier end to end: the daemon polls the fake carrier in that carrier's wire format and the
console channel announces each milestone once."""


import pytest

from tests.carriers.conftest import HOURLY, NUMBERS
from tests.helpers import add, make_settings, notifications, sent, shipment, walk
from tests.fakes.carriers import deliver_journey, journey


@pytest.mark.parametrize("carrier", list(NUMBERS))
async def test_full_journey_announces_each_milestone_once(carrier, tmp_path, start_daemon, clock, fake, capsys):
    number = NUMBERS[carrier]
    fake.add(carrier, number, deliver_journey(signed_by="A. SOUZA"))
    fake.carriers[carrier].token_ttl = 48 * 3600
    daemon = await start_daemon(make_settings(tmp_path, carriers={carrier: fake.settings(carrier)}, **HOURLY))
    # no carrier given: it is detected from the number among the configured carriers
    ship = await add(daemon, "ORDER-7", number.lower(), carrier=None, phone=None)
    assert ship.carrier == carrier

    await walk(daemon, clock, 40)

    assert sent(await notifications(daemon.engine, ship.id)) == [
        ("shipped", "email"), ("out_for_delivery", "email"), ("delivered", "email")]
    out = capsys.readouterr().out
    for milestone in ("shipped", "out_for_delivery", "delivered"):
        assert out.count(f"· ORDER-7 · {milestone} ") == 1, (milestone, out)
    final = await shipment(daemon.engine, ship.id)
    assert final.status == "delivered" and final.next_check_at is None
    assert final.signed_by == "A. SOUZA"
    assert final.expected_delivery is not None
    assert fake.carriers[carrier].calls >= 5
    if carrier != "dhl":  # DHL has an API key, the others a token that is reused, not fetched per call
        assert fake.carriers[carrier].token_calls == 1


@pytest.mark.parametrize("carrier", list(NUMBERS))
async def test_failed_attempt_then_pickup_point(carrier, tmp_path, start_daemon, clock, fake, capsys):
    number = NUMBERS[carrier]
    fake.add(carrier, number, journey("label", "picked_up", "in_transit", "out_for_delivery", "failed_attempt",
                                      "ready_for_pickup", "delivered", every_hours=5))
    daemon = await start_daemon(make_settings(tmp_path, carriers={carrier: fake.settings(carrier)}, **HOURLY))
    ship = await add(daemon, "ORDER-9", number, carrier=carrier, phone=None)
    await walk(daemon, clock, 40)
    assert [m for m, _ in sent(await notifications(daemon.engine, ship.id))] == [
        "shipped", "out_for_delivery", "failed_attempt", "available_for_pickup", "delivered"]
    final = await shipment(daemon.engine, ship.id)
    assert final.pickup_location
