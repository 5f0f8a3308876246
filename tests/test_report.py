"""`tracker report`: the figures of a small dataset whose answers were worked out by hand."""

import asyncio
import secrets
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tracker import report
from tracker.cli import main
from tracker.db import make_engine, sessionmaker, upgrade
from tracker.models import Notification, Order, Rating, Shipment, TrackingEventRow


async def build_dataset(engine, now: datetime) -> None:
    """fedex: A on time (3.0 days in transit, rated 5), B late (4.0 days, rated 2), C exception, D delivered
    without a first date (2.0 days from registration). sandbox: E on time (1.5 days, rated 4); F registered
    40 days ago (outside the window)."""
    d = lambda days: now - timedelta(days=days)  # noqa: E731
    spec = [
        # name, carrier, created, first_expected, delivered_at, in_transit_at, exception, note states, rating
        ("A", "fedex", d(10), d(5).date(), d(6), d(9), False, ["sent", "delivered", "failed"], 5),
        ("B", "fedex", d(10), d(8).date(), d(6), d(10), False, ["delivered", "delivered"], 2),
        ("C", "fedex", d(10), d(2).date(), None, d(9), True, ["failed"], None),
        ("D", "fedex", d(10), None, d(8), None, False, [], None),
        ("E", "sandbox", d(3), now.date(), d(1), d(2.5), False, ["sent"], 4),
        ("F", "sandbox", d(40), d(35).date(), d(36), d(39), False, ["sent", "sent"], 1),
    ]
    async with sessionmaker(engine)() as session, session.begin():
        for name, carrier, created, first, delivered, transit, exception, states, rating in spec:
            order = Order(number=f"R-{name}", email="r@example.com", created_at=created)
            session.add(order)
            await session.flush()
            ship = Shipment(order_id=order.id, carrier=carrier, tracking_number=f"T{name}", public_token=secrets.token_urlsafe(16),
                            status="delivered" if delivered else ("exception" if exception else "in_transit"),
                            first_expected_delivery=first, expected_delivery=first, delivered_at=delivered,
                            created_at=created, updated_at=created)
            session.add(ship)
            await session.flush()
            events = []
            if transit:
                events += [(transit, "in_transit"), (transit + timedelta(hours=5), "in_transit")]
            if exception:
                events += [(transit + timedelta(days=1), "exception")]
            for i, (when, status) in enumerate(events):
                session.add(TrackingEventRow(shipment_id=ship.id, key=f"{name}{i}", occurred_at=when, status=status,
                                             raw_code="X", recorded_at=when))
            for i, state in enumerate(states):
                session.add(Notification(shipment_id=ship.id, order_id=order.id, milestone=f"m{i}", channel="email",
                                         state=state, created_at=created, updated_at=created))
            if rating:
                session.add(Rating(shipment_id=ship.id, order_id=order.id, score=rating, created_at=now))


@pytest.fixture
async def dataset(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'tracker.db'}"
    engine = make_engine(url)
    await upgrade(engine)
    now = datetime.now(timezone.utc)
    await build_dataset(engine, now)
    yield engine, now
    await engine.dispose()


async def test_figures_match_the_hand_computed_answers(dataset):
    engine, now = dataset
    figs = report.figures(await report.load(engine, now - timedelta(days=30)), ZoneInfo("UTC"))
    fedex, sandbox = figs
    assert fedex.carrier == "fedex" and fedex.shipments == 4
    assert (fedex.on_time, fedex.dated, fedex.on_time_rate) == (1, 2, 0.5)
    assert fedex.median_transit_days == pytest.approx(3.0)
    assert fedex.exception_rate == 0.25
    assert (fedex.sent, fedex.delivered_notes, fedex.failed) == (4, 3, 2)
    assert fedex.average_rating == 3.5
    assert sandbox.shipments == 1  # F is outside the window
    assert (sandbox.on_time_rate, sandbox.median_transit_days, sandbox.exception_rate) == (1.0, pytest.approx(1.5), 0.0)
    assert (sandbox.sent, sandbox.delivered_notes, sandbox.failed, sandbox.average_rating) == (1, 0, 0, 4.0)


async def test_report_command_prints_the_table_and_writes_the_html_page(dataset, tmp_path, monkeypatch, capsys):
    (tmp_path / "config.yaml").write_text("database:\n  url: sqlite:///tracker.db\n")
    monkeypatch.chdir(tmp_path)
    assert await asyncio.to_thread(main, ["report", "--since", "30d", "--html", "report.html"]) == 0
    out = capsys.readouterr().out
    fedex = next(line for line in out.splitlines() if line.startswith("fedex"))
    assert fedex.split() == ["fedex", "4", "50%", "(1/2)", "3.0", "25%", "4", "3", "2", "3.5", "(2)"]
    sandbox = next(line for line in out.splitlines() if line.startswith("sandbox"))
    assert sandbox.split() == ["sandbox", "1", "100%", "(1/1)", "1.5", "0%", "1", "0", "0", "4.0", "(1)"]
    page = (tmp_path / "report.html").read_text()
    assert page.count("<svg") == 5 and "On-time rate" in page and "<script" not in page
    assert "<td>50% (1/2)</td>" in page

    assert await asyncio.to_thread(main, ["report", "--since", "45d"]) == 0
    assert next(line for line in capsys.readouterr().out.splitlines() if line.startswith("sandbox")).split()[1] == "2"
    assert await asyncio.to_thread(main, ["report", "--since", "a month"]) == 2
    assert "since:" in capsys.readouterr().err
