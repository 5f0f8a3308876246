"""Carrier quotas: a daily budget is never exceeded, urgent shipments are served first when it runs
short, and batching carriers get full batches when shipments are nearly due together."""

from datetime import timedelta

from sqlalchemy import select, update

from tests.fakes.sandbox_server import SandboxServer
from tests.helpers import make_settings, seed_shipments
from tracker.db import sessionmaker
from tracker.models import CarrierState, Shipment


async def test_daily_budget_is_never_exceeded_and_resumes_next_day(tmp_path, start_daemon, clock):
    daemon = await start_daemon(make_settings(tmp_path, carriers={"sandbox": {"daily_budget": 3}}))
    await seed_shipments(daemon.engine, 200, tracking="SBX-SILENT-{i}", now=clock.now())  # 4 batches of 50
    calls = 0
    for _ in range(3):
        calls += (await daemon.poller.tick()).calls
    assert calls == 3
    async with sessionmaker(daemon.engine)() as s:
        state = await s.get(CarrierState, "sandbox")
        waiting = (await s.execute(select(Shipment.next_check_at).where(Shipment.last_checked_at.is_(None)))).scalars().all()
    assert state.calls_today == 3 and state.budget_day == clock.now().date()
    midnight = (clock.now() + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert len(waiting) == 50 and set(waiting) == {midnight}
    assert (await daemon.poller.tick()).calls == 0  # paused for the day, nothing claimed
    clock.set(midnight + timedelta(minutes=1))
    assert (await daemon.poller.tick()).calls >= 1  # a new day, a new budget


async def test_short_budget_serves_urgent_statuses_first(tmp_path, start_daemon, clock):
    # 14:00 UTC: an even pace allows ~58% of 100 calls (+5 burst); 70 are spent already, so it is tight.
    daemon = await start_daemon(make_settings(tmp_path, carriers={"sandbox": {"daily_budget": 100}}))
    await seed_shipments(daemon.engine, 2, tracking="SBX-SILENT-{i}", now=clock.now())
    async with sessionmaker(daemon.engine)() as s, s.begin():
        await s.execute(update(Shipment).where(Shipment.tracking_number == "SBX-SILENT-0")
                        .values(status="out_for_delivery"))
        await s.execute(update(CarrierState).values(calls_today=70, budget_day=clock.now().date()))
    await daemon.poller.load_budgets()
    stats = await daemon.poller.tick()
    async with sessionmaker(daemon.engine)() as s:
        checked = {n for (n,) in await s.execute(
            select(Shipment.tracking_number).where(Shipment.last_checked_at.is_not(None)))}
    assert stats.calls == 1 and checked == {"SBX-SILENT-0"}
    # Later in the day the pace catches up with what was spent: the in-transit one is checked too.
    clock.advance(timedelta(hours=8))
    await daemon.poller.tick()
    async with sessionmaker(daemon.engine)() as s:
        assert (await s.execute(select(Shipment.last_checked_at).where(
            Shipment.tracking_number == "SBX-SILENT-1"))).scalar_one() is not None


async def test_budget_is_shared_by_every_daemon_on_the_database(tmp_path, start_daemon, clock):
    settings = make_settings(tmp_path, carriers={"sandbox": {"daily_budget": 4}})
    first = await start_daemon(settings)
    await seed_shipments(first.engine, 400, tracking="SBX-SILENT-{i}", now=clock.now())
    assert (await first.poller.tick()).calls == 4  # 4 of 8 batches, then the budget is spent
    # A second poller on the same database (as another daemon would be) finds nothing left to spend.
    from tracker.poller import Poller
    other = Poller(engine=first.engine, settings=settings.poller, carriers=first.carriers, clock=clock,
                   owner="other:1:x")
    for rt in first.carriers.values():
        rt.cooldown_until = None
    await other.load_budgets()
    assert (await other.tick()).calls == 0


async def test_batches_are_filled_with_nearly_due_shipments(tmp_path, start_daemon, clock):
    server = SandboxServer()
    base_url = await server.start()
    try:
        daemon = await start_daemon(make_settings(tmp_path, carriers={"sandbox": {"base_url": base_url}},
                                                  poller={"batch_fill_seconds": 600}))
        await seed_shipments(daemon.engine, 100, tracking="SBX-SILENT-{i}", now=clock.now())
        async with sessionmaker(daemon.engine)() as s, s.begin():  # 40 of them are due in five minutes
            await s.execute(update(Shipment).where(Shipment.id > 60)
                            .values(next_check_at=clock.now() + timedelta(minutes=5)))
        stats = await daemon.poller.tick()
        assert stats.calls == 2 and stats.checked == 100
        assert sorted(len(numbers) for numbers, _, _ in server.requests) == [50, 50]
    finally:
        await server.close()
