"""A carrier's text is cleaned where it is parsed, for every carrier polled and every source that pushes:
line breaks, terminal escape sequences, text-direction overrides, line/paragraph separators and invisible
marks in an event's description, its location, the pickup point or the signer never reach the database,
a log line, the operator's terminal (`tracker status`, `tracker alerts`), an SMS or an email."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.carriers.conftest import HOURLY, NUMBERS, fake  # noqa: F401 - the fake carriers fixture
from tests.fakes.aftership import FakeAfterShip
from tests.fakes.carriers import Journey, Step
from tests.fakes.easypost import FakeEasyPost
from tests.fakes.seventeentrack import FakeSeventeenTrack
from tests.fakes.ups_trackalert import FakeUPSTrackAlert
from tests.helpers import add, make_settings, shipment, walk
from tests.messaging_env import point_public_url
from tests.sources_env import point_webhooks, sources_settings
from tracker.models import TrackingEventRow
from tracker.status import TrackingEvent, TrackingResult, Status

FORGED = "\r\n2026-03-02T14:00:00Z ERROR tracker: forged line\x1b[2J\x1b]0;pwned\x07 \u202eevil\u2028x\u2029y\u200b\ufeff"
# Everything a customer or operator must never get from a carrier (a plain newline is the output's own).
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def test_an_event_and_a_result_are_plain_whatever_the_parser_gave():
    from datetime import datetime, timezone

    event = TrackingEvent(datetime(2026, 3, 2, tzinfo=timezone.utc), Status.IN_TRANSIT, "IT\x1b[0m",
                          raw_text="Arrived" + FORGED, location="PORT\u2029LAND\x85, OR")
    assert event.raw_text == "Arrived 2026-03-02T14:00:00Z ERROR tracker: forged line evil x y"
    assert event.location == "PORT LAND , OR" and event.raw_code == "IT"
    result = TrackingResult("N1", [event], signed_by="J.\r\nDOE\u202e", pickup_location="\u200b\u2028",
                            delivery_window="14:00-16:00\x00")
    assert (result.signed_by, result.pickup_location, result.delivery_window) == ("J. DOE", None, "14:00-16:00")


def assert_plain(*texts: str) -> None:
    for text in texts:
        assert not UNSAFE.search(text or ""), repr(text)


@pytest.mark.parametrize("carrier", list(NUMBERS))
async def test_polled_carrier_text_is_cleaned_everywhere_it_shows(carrier, tmp_path, start_daemon, clock, fake,
                                                                  capsys, caplog):
    caplog.set_level(logging.INFO)
    number = NUMBERS[carrier]
    city = "PORT\u2029LAND\x1b[31m"
    steps = [Step(0, "label", note=FORGED), Step(2, "picked_up", city=city, note=FORGED),
             Step(14, "out_for_delivery", city=city, note=FORGED), Step(18, "failed_attempt", note=FORGED),
             Step(20, "ready_for_pickup", city=city, note=FORGED), Step(30, "delivered", note=FORGED)]
    fake.add(carrier, number, Journey(steps, signed_by="A.\r\nSOUZA\u202e", pickup_place="Loja\x1b[2J\n12 Oak\u200b St"))
    fake.carriers[carrier].token_ttl = 48 * 3600
    settings = make_settings(tmp_path, carriers={carrier: fake.settings(carrier)}, **HOURLY)
    daemon = await start_daemon(settings)
    ship = await add(daemon, "ORDER-7", number, carrier=carrier, phone="+14155550101")
    await walk(daemon, clock, 36)

    async with daemon.engine.connect() as conn:
        events = (await conn.execute(select(TrackingEventRow).where(TrackingEventRow.shipment_id == ship.id))).all()
    assert len(events) >= 5
    assert any("forged line" in e.raw_text for e in events)  # the carrier's words are kept, made plain
    for e in events:
        assert_plain(e.raw_text, e.location, e.raw_code)
    row = await shipment(daemon.engine, ship.id)
    assert row.status == "delivered"
    assert_plain(row.signed_by or "", row.pickup_location or "")
    messages = capsys.readouterr().out  # the console channel: every SMS and email as the customer reads it
    assert "ORDER-7" in messages
    assert_plain(messages)
    assert_plain(*(r.getMessage() for r in caplog.records))
    for args in (["status", "ORDER-7"], ["alerts", "--all"]):  # the operator's terminal
        proc = subprocess.run([sys.executable, "-m", "tracker.cli", "--config", settings.source, *args],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert_plain(proc.stdout, proc.stderr)
    assert "Loja" in proc.stdout or "forged line" in proc.stdout or "ORDER-7" in proc.stdout


SOURCES = [FakeSeventeenTrack, FakeAfterShip, FakeEasyPost, FakeUPSTrackAlert]


@pytest.mark.parametrize("fake_cls", SOURCES, ids=lambda c: c.label)
async def test_pushed_text_is_cleaned_for_every_source(fake_cls, tmp_path, start_daemon, clock, fakes, caplog):
    tw, sg = fakes
    caplog.set_level(logging.INFO)
    number, carrier = ("1Z999AA10123456784", None) if fake_cls is FakeUPSTrackAlert else ("7200123456", "acs")
    async with fake_cls(now=clock.now) as source:
        daemon = await start_daemon(sources_settings(tmp_path, source, tw, sg), web_server=True)
        point_public_url(daemon)
        point_webhooks(daemon, source)
        ship = await add(daemon, "GR-1", number, carrier=carrier, locale="el", phone="+306912345678",
                         email="eleni@example.gr")
        await daemon.run_once()
        for kind in ("transit", "pickup", "exception"):
            assert await source.scan(number, kind, text=f"Σε μεταφορά{FORGED}",
                                     location=f"ATHINA\u2028\x1b[1m{FORGED}, GR") == 200
            await daemon.run_once()
            clock.advance(timedelta(hours=1))
        async with daemon.engine.connect() as conn:
            events = (await conn.execute(select(TrackingEventRow)
                                         .where(TrackingEventRow.shipment_id == ship.id))).all()
        assert events and any("Σε μεταφορά" in e.raw_text for e in events)
        for e in events:
            assert_plain(e.raw_text, e.location, e.raw_code)
        assert_plain((await shipment(daemon.engine, ship.id)).pickup_location or "")
        assert tw.to("+306912345678") and sg.to("eleni@example.gr")
        assert_plain(*(m["Body"] for m in tw.to("+306912345678")))
        assert_plain(*(FakeSendGrid_text(m) for m in sg.to("eleni@example.gr")))
        assert_plain(*(r.getMessage() for r in caplog.records))


def FakeSendGrid_text(mail) -> str:  # noqa: N802 - the fake's own helper, named for what it reads
    from tests.fakes.sendgrid import FakeSendGrid

    return FakeSendGrid.text_of(mail) + mail["subject"]


def test_text_stored_before_the_cleaning_is_made_plain_on_the_terminal():
    from tracker.plaintext import for_terminal

    stored = "ORDER-1\n  2026-03-02 14:00  in_transit  Arrived\r\n ERROR forged\x1b[2J\u202eevil\u2028x"
    assert for_terminal(stored) == "ORDER-1\n  2026-03-02 14:00  in_transit  Arrived \n ERROR forgedevil x"
