"""Every hot query walks an index in the order it needs, on SQLite and PostgreSQL, whatever the table holds:
the poller's claim reads at most its limit per source (never sorts a carrier's rows). The figures at 1M
shipments are bench/scale.py's (docs/benchmarks.md); this checks the plans, not timings."""

from datetime import datetime, timezone

import pytest

from tests.helpers import make_settings
from tracker.clock import FakeClock
from tracker.config import async_url
from tracker.db import make_engine, upgrade
from tracker.plans import explain
from tracker.poller import Poller

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def poller(engine, tmp_path) -> Poller:
    settings = make_settings(tmp_path)
    return Poller(engine=engine, settings=settings.poller, carriers={}, clock=FakeClock(NOW), owner="test")


async def claim_plans(url: str, tmp_path) -> dict[str, str]:
    engine = make_engine(url)
    try:
        await upgrade(engine)
        p = poller(engine, tmp_path)
        plans = {}
        for name, carriers, urgent in [("one", ["fedex"], ()), ("two", ["fedex", "ups"], ()),
                                       ("urgent", ["ups"], ["fedex"])]:
            plans[name] = "\n".join(await explain(engine, p.claim_statement(NOW, carriers, 100, urgent_only=urgent),
                                                  no_seqscan=True))
        return plans
    finally:
        await engine.dispose()


async def test_claim_walks_the_source_index_on_sqlite(tmp_path):
    plans = await claim_plans(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", tmp_path)
    for name, plan in plans.items():
        assert "SCAN shipments" not in plan, (name, plan)
    assert "USING INDEX ix_shipments_claim (source=? AND next_check_at<?)" in plans["one"]
    assert "TEMP B-TREE" not in plans["one"], plans["one"]  # read in due order: nothing sorted
    assert plans["two"].count("USING INDEX ix_shipments_claim (source=? AND next_check_at<?)") == 2
    assert "USING INDEX ix_shipments_claim_urgent (source=? AND status=? AND next_check_at<?)" in plans["urgent"]


@pytest.mark.postgres
async def test_claim_walks_the_source_index_on_postgresql(pg_url, tmp_path):
    plans = await claim_plans(async_url(pg_url, tmp_path), tmp_path)
    for name, plan in plans.items():
        assert "Seq Scan on shipments" not in plan, (name, plan)
    assert "ix_shipments_claim on shipments" in plans["one"], plans["one"]
    assert "Sort" not in plans["one"], plans["one"]  # read in due order: nothing sorted
    assert "ix_shipments_claim_urgent on shipments" in plans["urgent"], plans["urgent"]
