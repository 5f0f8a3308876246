"""Every hot query walks an index in the order it needs, on SQLite and PostgreSQL: the poller's claim reads at
most its limit per source (never sorts a carrier's rows) and each watcher sweep reads one or a few ranges of
an index on its due time, so a pass reads what is due, not what exists. The database holds a shop's year
(bench/seed.py's mix: mostly delivered, a few in flight) and its statistics, so each planner chooses as it
would at scale. The figures at 1M shipments are bench/scale.py's (docs/benchmarks.md); this checks plans,
not timings."""

from datetime import datetime, timezone

import pytest

from bench.seed import seed_mix
from tests.helpers import make_settings
from tracker.clock import FakeClock
from tracker.config import async_url
from tracker.db import make_engine, upgrade
from tracker.plans import explain
from tracker.poller import Poller
from tracker.watch import Watcher

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
ROWS = 20_000
SWEEPS = ("expired", "silence", "late", "problems", "date_moved", "follow_up", "preparing")
CLAIMS = {"one": (["fedex"], ()), "two": (["fedex", "ups"], ()), "urgent": (["ups"], ["fedex"])}


async def plans_of(url: str, tmp_path, *, no_seqscan: bool = False) -> dict[str, str]:
    engine = make_engine(url)
    try:
        await upgrade(engine)
        await seed_mix(engine, url, ROWS, now=NOW)
        settings = make_settings(tmp_path, follow_up={"enabled": True, "secret": "s" * 32})
        poller = Poller(engine=engine, settings=settings.poller, carriers={}, clock=FakeClock(NOW), owner="test")
        watcher = Watcher(engine=engine, settings=settings, clock=FakeClock(NOW))
        plans = {}
        for name, (carriers, urgent) in CLAIMS.items():
            plans[f"claim {name}"] = "\n".join(await explain(
                engine, poller.claim_statement(NOW, carriers, 500, urgent_only=urgent), no_seqscan=no_seqscan))
        for sweep in SWEEPS:
            plans[sweep] = "\n".join(await explain(engine, watcher.candidates(sweep, NOW), no_seqscan=no_seqscan))
        plans["erase"] = "\n".join(await explain(engine, watcher.erasable(NOW), no_seqscan=no_seqscan))
        return plans
    finally:
        await engine.dispose()


async def test_claim_and_sweeps_read_index_ranges_on_sqlite(tmp_path):
    plans = await plans_of(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", tmp_path)
    for name, plan in plans.items():
        assert "SCAN shipments" not in plan and "SCAN orders" not in plan, (name, plan)
    claim = "USING INDEX ix_shipments_claim (source=? AND next_check_at<?)"
    assert claim in plans["claim one"] and "TEMP B-TREE" not in plans["claim one"], plans["claim one"]
    assert plans["claim two"].count(claim) == 2, plans["claim two"]
    assert "ix_shipments_claim_urgent (source=? AND status=? AND next_check_at<?)" in plans["claim urgent"]
    assert "ix_shipments_quiet (status=? AND last_event_at<?)" in plans["expired"], plans["expired"]
    # silence and late: the shipments not looked at since their news (partial indexes) and those due again
    assert "ix_shipments_quiet_unwatched (status=? AND last_event_at=? AND created_at<?)" in plans["silence"]
    assert "ix_shipments_silence_due (silence_due_at<?)" in plans["silence"], plans["silence"]
    assert "ix_shipments_late_unwatched (status=? AND first_expected_delivery<?)" in plans["late"], plans["late"]
    assert "ix_shipments_late_due (late_due_at<?)" in plans["late"], plans["late"]
    assert "ix_orders_unerased (created_at<?)" in plans["erase"], plans["erase"]
    assert "ix_shipments_date_moved" in plans["date_moved"], plans["date_moved"]
    assert "ix_shipments_delivered (status=? AND delivered_at>? AND delivered_at<?)" in plans["follow_up"]
    assert "ix_orders_unshipped (created_at>? AND created_at<?)" in plans["preparing"], plans["preparing"]


@pytest.mark.postgres
async def test_claim_and_sweeps_read_index_ranges_on_postgresql(pg_url, tmp_path):
    # 20,000 rows are few enough that reading the table whole is cheaper: the plans of a large table are asked for
    plans = await plans_of(async_url(pg_url, tmp_path), tmp_path, no_seqscan=True)
    for name, plan in plans.items():
        assert "Seq Scan on shipments" not in plan and "Seq Scan on orders" not in plan, (name, plan)
    assert "ix_shipments_claim " in plans["claim one"], plans["claim one"]
    assert "ix_shipments_claim_urgent " in plans["claim urgent"], plans["claim urgent"]
    # PostgreSQL picks among the sweeps' indexes by its own estimates (docs/benchmarks.md has its plans at 1M)
    for sweep, index in [("late", "ix_shipments_late_unwatched"), ("late", "ix_shipments_late_due"),
                         ("silence", "ix_shipments_silence_due"), ("date_moved", "ix_shipments_date_moved"),
                         ("follow_up", "ix_shipments_delivered"), ("preparing", "ix_orders_unshipped"),
                         ("erase", "ix_orders_unerased")]:
        assert index in plans[sweep], (sweep, plans[sweep])


async def test_scale_1_upgrades_a_populated_database_and_marks_the_orders_that_have_a_parcel(tmp_path):
    from sqlalchemy import select, text

    from tracker.db import sessionmaker
    from tracker.models import CarrierState, Order

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await upgrade(engine, "connect_1")
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO orders (id, number, email, phone, locale, channels, created_at) VALUES "
                "(1, '1001', 'ana@example.pt', NULL, 'pt-PT', 'email', '2026-03-01 10:00:00.000000'), "
                "(2, '1002', NULL, NULL, 'en', 'email', '2026-03-01 11:00:00.000000')"))
            await conn.execute(text(
                "INSERT INTO shipments (id, order_id, carrier, source, tracking_number, status, public_token, "
                "created_at, updated_at, failures) VALUES (1, 1, 'sandbox', 'sandbox', 'SBX-DELIVER-1', 'pending', "
                "'tok', '2026-03-01 10:30:00.000000', '2026-03-01 10:30:00.000000', 0)"))
            await conn.execute(text("INSERT INTO carrier_states (carrier, calls_today, failures, updated_at) VALUES "
                                    "('sandbox', 3, 0, '2026-03-01 10:00:00.000000')"))
        await upgrade(engine)
        async with sessionmaker(engine)() as s:
            orders = (await s.execute(select(Order).order_by(Order.id))).scalars().all()
            assert [(o.number, o.first_parcel_at) for o in orders] == [
                ("1001", datetime(2026, 3, 1, 10, 30, tzinfo=timezone.utc)), ("1002", None)]
            state = (await s.execute(select(CarrierState))).scalar_one()
            assert (state.calls_today, state.next_slot_at) == (3, None)
    finally:
        await engine.dispose()
