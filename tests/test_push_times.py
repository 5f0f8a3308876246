"""A signed push whose own time cannot be a time (AfterShip `ts: 1e20`, NaN, a string; EasyPost `created_at`
in the year 9999) answers 400 naming the field, with one log line and nothing stored; a scan dated out of
range inside an otherwise good push is skipped, the rest applied."""

from __future__ import annotations

import json
import logging

import pytest

from tests.fakes.aftership import FakeAfterShip
from tests.fakes.easypost import FakeEasyPost
from tests.fakes.seventeentrack import FakeSeventeenTrack
from tests.helpers import add, notifications, shipment
from tests.messaging_env import point_public_url
from tests.sources_env import point_webhooks, sources_settings
from tracker.carriers import aftership, easypost
from tracker.carriers.common import from_epoch, from_iso


async def started(tmp_path, start_daemon, fakes, source):
    tw, sg = fakes
    daemon = await start_daemon(sources_settings(tmp_path, source, tw, sg), web_server=True)
    point_public_url(daemon)
    point_webhooks(daemon, source)
    ship = await add(daemon, "GR-1", "7200123456", carrier="acs", locale="el", phone=None, email="e@example.gr")
    await daemon.run_once()
    return daemon, ship


@pytest.mark.parametrize("ts", ["1e20", "-1e20", "1e300", "NaN", "Infinity", "-Infinity", '"soon"', "4102444800"])
async def test_aftership_ts_out_of_range_answers_400(tmp_path, start_daemon, clock, fakes, caplog, ts):
    async with FakeAfterShip(now=clock.now) as source:
        daemon, ship = await started(tmp_path, start_daemon, fakes, source)
        parcel = source.scan_of("7200123456", "transit")
        good = json.loads(source.body(parcel))
        body = json.dumps({**good, "ts": "TS"}).replace('"TS"', ts).encode()
        caplog.clear()
        assert await source.push(parcel, body=body) == 400
        refused = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(refused) == 1 and "AfterShip: ts" in refused[0], refused
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert (await shipment(daemon.engine, ship.id)).status == "pending"
        assert await notifications(daemon.engine) == []
        assert await source.push(parcel) == 200  # the daemon still serves; a good push is applied
        await daemon.inbox.tick()
        assert (await shipment(daemon.engine, ship.id)).status == "in_transit"


@pytest.mark.parametrize("created", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "2300-01-01T00:00:00Z",
                                     "yesterday"])
async def test_easypost_created_at_out_of_range_answers_400(tmp_path, start_daemon, clock, fakes, created):
    async with FakeEasyPost(now=clock.now) as source:
        daemon, ship = await started(tmp_path, start_daemon, fakes, source)
        parcel = source.scan_of("7200123456", "transit")
        body = json.dumps({**json.loads(source.body(parcel)), "created_at": created}).encode()
        assert await source.push(parcel, body=body) == 400
        assert (await shipment(daemon.engine, ship.id)).status == "pending"


async def test_a_scan_dated_out_of_range_is_skipped_and_the_rest_applied(tmp_path, start_daemon, clock, fakes):
    async with FakeSeventeenTrack(now=clock.now) as source:
        daemon, ship = await started(tmp_path, start_daemon, fakes, source)
        parcel = source.scan_of("7200123456", "transit")
        data = json.loads(source.body(parcel))
        events = data["data"]["track_info"]["tracking"]["providers"][0]["events"]
        events.append({**events[0], "time_iso": "9999-12-31T23:00:00-05:00", "time_utc": "9999-12-31T23:00:00Z",
                       "description": "from the far future"})
        assert await source.push(parcel, body=json.dumps(data).encode()) == 200
        await daemon.inbox.tick()
        row = await shipment(daemon.engine, ship.id)
        assert row.status == "in_transit" and row.last_event_at.year == 2026


@pytest.mark.parametrize("value", [1e20, -1.0, float("nan"), float("inf"), True, "1700000000", None, 4102444800])
def test_from_epoch_refuses_what_is_not_a_time(value):
    with pytest.raises(ValueError):
        from_epoch(value)


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "2100-01-01T00:00:00Z",
                                  "1969-12-31T23:59:59Z", "not a time"])
def test_from_iso_refuses_times_out_of_range(text):
    with pytest.raises(ValueError):
        from_iso(text)


def test_the_parsers_name_the_field():
    with pytest.raises(ValueError, match="AfterShip: ts"):
        aftership.parse_webhook(b'{"event": "tracking_update", "event_id": "e", "ts": 1e20, "msg": {}}')
    with pytest.raises(ValueError, match="EasyPost: created_at"):
        easypost.parse_webhook(json.dumps({"object": "Event", "id": "evt_1", "created_at": "9999-12-31T23:59:59-12:00",
                                           "description": "tracker.updated", "result": {}}).encode())
