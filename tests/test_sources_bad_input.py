"""Bad pushes get a clear answer and change nothing; the daemon carries on. Pushes for numbers nobody
registered are answered 200 (so the source stops retrying), ignored and counted in /metrics."""

from __future__ import annotations

import json

import aiohttp
import pytest

from tests.fakes.seventeentrack import FakeSeventeenTrack
from tests.helpers import add, metric, notifications, shipment
from tests.test_sources_push import start
from tracker.db import sessionmaker
from tracker.models import TrackingEventRow, WebhookEvent


async def post(daemon, path: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"http://127.0.0.1:{daemon.port}{path}", data=body, headers=headers or {}) as resp:
            return resp.status, await resp.json()


async def metrics(daemon) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{daemon.port}/metrics") as resp:
            return await resp.text()


@pytest.fixture
async def env(tmp_path, start_daemon, clock, fakes):
    async with FakeSeventeenTrack(now=clock.now) as fake:
        daemon = await start(tmp_path, start_daemon, fake, fakes, api={"max_body_bytes": 4096})
        ship = await add(daemon, "GR-1", "7200123456", carrier="acs", locale="el", phone=None, email="e@example.gr")
        await daemon.run_once()
        yield daemon, fake, ship


def signed(fake, payload) -> tuple[bytes, dict]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return body, fake.sign_headers(body, None)


async def test_malformed_too_large_and_unknown_source_are_refused_clearly(env):
    daemon, fake, ship = env
    status, answer = await post(daemon, "/webhooks/sources/17track", *signed(fake, b"{not json"))
    assert status == 400 and "not valid JSON" in answer["error"]["problem"]
    status, answer = await post(daemon, "/webhooks/sources/17track", *signed(fake, {"event": "HELLO"}))
    assert status == 400 and "TRACKING_UPDATED" in answer["error"]["problem"]
    status, answer = await post(daemon, "/webhooks/sources/17track", *signed(fake, b"[" * 5000))
    assert status == 413 and answer["error"]["fix"] == "raise api.max_body_bytes"
    status, answer = await post(daemon, "/webhooks/sources/nosuch", b"{}")
    assert status == 404 and answer["error"]["field"] == "source"
    async with sessionmaker(daemon.engine)() as session:
        assert (await session.execute(WebhookEvent.__table__.select())).all() == []
    assert (await shipment(daemon.engine, ship.id)).status == "pending"
    text = await metrics(daemon)
    assert metric(text, "tracker_pushes_total", source="17track", outcome="malformed") == 2
    assert metric(text, "tracker_pushes_total", source="17track", outcome="too_large") == 1
    assert (await post(daemon, "/webhooks/sources/17track", *signed(fake, b"{}")))[0] == 400  # still serving


async def test_a_push_for_a_number_nobody_registered_is_200_ignored_and_counted(env):
    daemon, fake, _ = env
    parcel = fake.scan_of("RR999999990ES", "transit")
    parcel.id, parcel.carrier = "x", "19181"
    assert await fake.push(parcel) == 200
    await daemon.inbox.tick()
    assert await notifications(daemon.engine) == []
    text = await metrics(daemon)
    assert metric(text, "tracker_pushes_total", source="17track", outcome="unmatched") == 1
    assert metric(text, "tracker_source_subscriptions", source="17track", state="active") == 1


async def test_an_unknown_status_is_recorded_as_unknown_and_announces_nothing(env, caplog):
    daemon, fake, ship = env
    parcel = fake.scan_of("7200123456", "transit")
    data = fake.data(parcel)
    data["track_info"]["tracking"]["providers"][0]["events"][0]["sub_status"] = "Teleported_Away"
    data["track_info"]["latest_status"] = {"status": "Teleported", "sub_status": "Teleported_Away"}
    status, answer = await post(daemon, "/webhooks/sources/17track",
                                *signed(fake, {"event": "TRACKING_UPDATED", "data": data}))
    assert status == 200 and answer == {"stored": True}
    await daemon.run_once()
    assert (await shipment(daemon.engine, ship.id)).status == "pending"
    async with sessionmaker(daemon.engine)() as session:
        rows = (await session.execute(TrackingEventRow.__table__.select())).all()
    assert [(r.status, r.raw_code) for r in rows] == [("unknown", "Teleported_Away")]
    assert await notifications(daemon.engine) == []
    assert any("unknown status code 'Teleported_Away'" in r.getMessage() for r in caplog.records)


async def test_a_number_in_two_orders_is_not_guessed(env):
    """The same number registered twice at one source (two orders, two carriers named): the push cannot
    say which parcel it is about, so neither changes."""
    daemon, fake, ship = env
    other = await add(daemon, "GR-2", "7200123456", carrier="speedex", locale="el", phone=None, email="x@example.gr")
    parcel = fake.scan_of("7200123456", "transit")
    parcel.carrier = "0"  # a 17TRACK key no catalog entry has
    assert await fake.push(parcel) == 200
    await daemon.inbox.tick()
    assert (await shipment(daemon.engine, ship.id)).status == "pending"
    assert (await shipment(daemon.engine, other.id)).status == "pending"
    assert metric(await metrics(daemon), "tracker_pushes_total", source="17track", outcome="ambiguous") == 1


async def test_a_push_for_a_stopped_shipment_tells_nobody(env):
    from tracker.web import common

    daemon, fake, ship = env
    await common.stop(daemon, ship.id, "support:maria")
    assert await fake.scan("7200123456", "transit") == 200
    await daemon.run_once()
    assert await notifications(daemon.engine) == []
    assert (await shipment(daemon.engine, ship.id)).status == "pending"
