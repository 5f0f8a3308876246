"""End to end on the embedded default: sandbox carrier -> poller -> outbox -> console channel."""

from datetime import timedelta

from tests.helpers import add, make_settings, notifications, sent, shipment

HOURLY = {"poller": {"jitter": 0, "intervals": {k: 3600 for k in (
    "pending", "info_received", "in_transit", "out_for_delivery", "available_for_pickup", "failed_attempt",
    "exception")}}}


async def walk(daemon, clock, hours: int, step: timedelta = timedelta(hours=1)) -> None:
    """Run everything due, then move the clock on, `hours` times."""
    for _ in range(hours):
        await daemon.run_once()
        clock.advance(step)
    await daemon.run_once()


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
