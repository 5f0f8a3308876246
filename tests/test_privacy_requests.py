"""A person's data on request: `tracker privacy export|erase`, Shopify's customers/data_request,
customers/redact and shop/redact, each recorded for audit without keeping what was erased."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from sqlalchemy import select

from tests.helpers import add, make_settings, metric, notifications, sent, walk
from tests.shops_env import SHOPIFY_SECRET
from tracker import preferences
from tracker.db import sessionmaker
from tracker.models import (
    Alert,
    Notification,
    Order,
    PrivacyRequest,
    Rating,
    Shipment,
    Suppression,
    TrackingEventRow,
    WhatsAppSession,
)
from tracker.privacy import requests
from tracker.story import order_story

HOURLY = {"poller": {"intervals": {k: 3600 for k in ("pending", "info_received", "in_transit",
                                                     "out_for_delivery", "failed_attempt")}}}
ANA = "ana.conceicao@example.pt"


async def seed(daemon, clock):
    """Ana: a delivered order with a rating comment, a moving one, a STOP on WhatsApp; Jorge: one order."""
    done = await add(daemon, "1001", "SBX-DELIVER-1", email=ANA, phone="+351912345678")
    moving = await add(daemon, "1002", "SBX-SILENT-2", email="Ana.Conceicao@example.pt", phone=None)
    jorge = await add(daemon, "2001", "SBX-DELIVER-3", email="jorge@example.es", phone="+34612345678")
    await walk(daemon, clock, 40)
    now = clock.now()
    async with sessionmaker(daemon.engine)() as s, s.begin():
        await preferences.record(s, [done.order_id], "preferences page", "opted out of SMS", now)
        s.add(Rating(shipment_id=done.id, order_id=done.order_id, score=2, comment="Caixa amolgada, Ana", created_at=now))
        s.add(WhatsAppSession(phone="+351912345678", last_inbound_at=now))
        s.add(Suppression(channel="sms", address="+351912345678", reason="STOP", created_at=now))
        await s.execute(Shipment.__table__.update().where(Shipment.id == done.id).values(signed_by="Ana C."))
    return done, moving, jorge


async def test_export_then_erase_one_person_history_kept(tmp_path, start_daemon, clock):
    settings = make_settings(tmp_path, **HOURLY)
    daemon = await start_daemon(settings)
    done, moving, jorge = await seed(daemon, clock)
    who = requests.person(" ANA.Conceicao@example.pt ", settings)

    export = await requests.export_person(daemon.engine, settings, who, clock.now(), by="maria")
    data = export.data
    assert [o["order_number"] for o in data["orders"]] == ["1001", "1002"]  # the email's case aside
    first = data["orders"][0]
    assert first["email"] == ANA and first["phone"] == "+351912345678"
    assert [m["about"] for m in first["messages"] if m["state"] == "sent"][:1] == ["shipped"]
    assert first["preference_changes"][0]["change"] == "opted out of SMS"
    assert first["parcels"][0]["rating"]["comment"] == "Caixa amolgada, Ana"
    assert first["parcels"][0]["signed_by"] == "Ana C." and first["parcels"][0]["events"]
    assert data["opt_outs"] == [{"channel": "sms", "address": "+351912345678", "reason": "STOP",
                                 "at": clock.now().isoformat()}]
    assert data["whatsapp_sessions"][0]["phone"] == "+351912345678"

    before = len(await notifications(daemon.engine, done.id))
    outcome = await requests.erase_people(daemon.engine, settings, [who], clock.now(), by="maria")
    assert outcome.orders == ["1001", "1002"]
    async with sessionmaker(daemon.engine)() as s:
        orders = {o.number: o for o in (await s.execute(select(Order))).scalars()}
        assert (orders["1001"].email, orders["1001"].phone, orders["1002"].email) == (None, None, None)
        assert orders["1001"].erased_at is not None and orders["2001"].email == "jorge@example.es"
        assert (await s.get(Shipment, done.id)).signed_by is None
        assert (await s.execute(select(Rating.score, Rating.comment))).one() == (2, None)
        assert (await s.execute(select(WhatsAppSession))).first() is None
        assert (await s.execute(select(Suppression.address))).scalar_one() == "+351912345678"  # still honoured
        assert (await s.execute(select(TrackingEventRow).where(TrackingEventRow.shipment_id == done.id))).first()
        digests = (await s.execute(select(Notification.body_digest).where(
            Notification.order_id.in_([done.order_id, moving.order_id])))).scalars().all()
        assert digests and not any(digests)
        audit = (await s.execute(select(PrivacyRequest).order_by(PrivacyRequest.id))).scalars().all()
    # the anonymous history stays: every message and its state
    assert len(await notifications(daemon.engine, done.id)) == before
    assert sent(await notifications(daemon.engine, jorge.id))  # another person untouched
    story = await order_story(daemon.engine, "1001", settings)
    assert ANA not in story and "912345678" not in story and "contact details erased" in story
    # audit: who, how, when, what; the person only as a keyed hash
    assert [(a.kind, a.via, a.requested_by, a.state, a.orders) for a in audit] == [
        ("export", "cli", "maria", "done", 2), ("erase", "cli", "maria", "done", 2)]
    assert audit[0].subject_hash == audit[1].subject_hash and len(audit[1].subject_hash) == 64
    assert "ana" not in " ".join(f"{a.subject_hash} {a.result} {a.reference}" for a in audit).lower()
    assert "orders' email and phone: 2" in audit[1].result and "rating comments: 1" in audit[1].result

    # a webhook with the erased order's contact data afterwards does not bring it back
    from tracker.bulk import validate_item
    from tracker.orders import register_batch
    reg = validate_item(settings, {"order_number": "1002", "email": ANA, "tracking_number": "SBX-DELIVER-9",
                                   "carrier": "sandbox"})
    async with sessionmaker(daemon.engine)() as s, s.begin():
        (o,) = await register_batch(s, [(0, reg)], clock.now())
    assert o.error.field == "order_number" and "erased" in o.error.problem
    # nothing held: an export says so
    again = await requests.export_person(daemon.engine, settings, who, clock.now(), by="maria")
    assert again.orders == [] and again.data["orders"] == []


def _cli(tmp_path, *argv):
    from tracker.cli import main

    return main(["--config", str(tmp_path / "config.yaml"), "privacy", *argv])


async def test_cli_export_erase_and_the_unknown_person(tmp_path, start_daemon, clock, capsys):
    import asyncio
    import os
    import stat

    settings = make_settings(tmp_path, **HOURLY)
    daemon = await start_daemon(settings)
    await seed(daemon, clock)
    out = tmp_path / "ana.json"
    assert await asyncio.to_thread(_cli, tmp_path, "export", ANA, "--out", str(out)) == 0
    assert json.loads(out.read_text())["orders"][0]["email"] == ANA
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert ANA not in capsys.readouterr().err  # the confirmation names the person masked

    assert await asyncio.to_thread(_cli, tmp_path, "erase", "+351 912 345 678") == 2
    err = capsys.readouterr().err
    assert "cannot be undone" in err and "--yes" in err and "912345678" not in err
    assert await asyncio.to_thread(_cli, tmp_path, "erase", "+351 912 345 678", "--yes") == 0
    said = capsys.readouterr().out
    assert "erased +3•••••••••78 from 1 orders (1001)" in said and "opt-outs" in said

    assert await asyncio.to_thread(_cli, tmp_path, "erase", "nobody@example.com", "--yes") == 2
    err = capsys.readouterr().err
    assert "tracker: email: no order holds n•••@example.com, so nothing was erased" in err and "Fix:" in err
    assert await asyncio.to_thread(_cli, tmp_path, "erase", "not an address", "--yes") == 2
    assert "phone: 'not an address' is not a valid phone number" in capsys.readouterr().err

    assert await asyncio.to_thread(_cli, tmp_path, "requests") == 0
    listing = capsys.readouterr().out
    assert "erase        nothing_found" in listing and "erase        done" in listing and ANA not in listing


def sign(body: bytes) -> str:
    return base64.b64encode(hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).digest()).decode()


@pytest.fixture
async def shop(start_daemon, tmp_path, clock):
    from tests.web_helpers import Client, web_daemon

    daemon = await web_daemon(start_daemon, tmp_path, intake={"shopify_secret": SHOPIFY_SECRET},
                              shopify={"shop": "casa-azul.myshopify.com"}, **HOURLY)
    await seed(daemon, clock)
    client = Client(daemon)
    yield daemon, client
    await client.close()


async def post(client, topic: str, payload: dict, *, signature: str | None = None):
    body = json.dumps(payload).encode()
    return await client.request("POST", "/webhooks/shopify", data=body, headers={
        "X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": "casa-azul.myshopify.com",
        "X-Shopify-Hmac-Sha256": signature or sign(body), "Content-Type": "application/json"})


async def test_shopify_customers_redact_and_data_request(shop):
    daemon, client = shop
    redact = {"shop_id": 954889, "shop_domain": "casa-azul.myshopify.com",
              "customer": {"id": 191167, "email": ANA, "phone": "+351912345678"}, "orders_to_redact": [1001, 1002]}
    status, body, _ = await post(client, "customers/redact", redact, signature="AAAA")
    assert status == 401  # as Shopify requires of a bad signature; nothing erased
    status, body, _ = await post(client, "customers/redact", redact)
    assert status == 200 and body["orders"] == 2
    async with sessionmaker(daemon.engine)() as s:
        assert (await s.execute(select(Order.email).where(Order.number == "1001"))).scalar_one() is None
        audit = (await s.execute(select(PrivacyRequest))).scalar_one()
    assert (audit.kind, audit.via, audit.requested_by, audit.reference) == (
        "erase", "shopify customers/redact", "casa-azul.myshopify.com", "customer 191167")

    request = {"shop_id": 954889, "shop_domain": "casa-azul.myshopify.com", "orders_requested": [2001],
               "customer": {"id": 207119, "email": "jorge@example.es", "phone": "+34 612 34 56 78"},
               "data_request": {"id": 9999}}
    status, body, _ = await post(client, "customers/data_request", request)
    assert status == 200 and body["orders"] == 1
    async with sessionmaker(daemon.engine)() as s:
        alert = (await s.execute(select(Alert).where(Alert.cause == "privacy_request"))).scalar_one()
        pending = (await s.execute(select(PrivacyRequest).where(PrivacyRequest.kind == "data_request"))).scalar_one()
    assert "customer 207119" in alert.message and "tracker privacy export" in alert.message
    assert "jorge" not in alert.message and pending.state == "to_answer"
    # the export of that customer answers it
    await requests.export_person(daemon.engine, daemon.settings, requests.person("jorge@example.es", daemon.settings),
                                 daemon.clock.now(), by="maria")
    async with sessionmaker(daemon.engine)() as s:
        assert (await s.get(PrivacyRequest, pending.id)).state == "done"
    _, metrics, _ = await client.request("GET", "/metrics")
    assert metric(metrics, "tracker_privacy_requests", kind="data_request", state="done") == 1
    assert metric(metrics, "tracker_privacy_requests", kind="erase", state="done") == 1


async def test_shopify_shop_redact_erases_every_order_of_this_shop_only(shop):
    daemon, client = shop
    other = {"shop_id": 1, "shop_domain": "another-shop.myshopify.com"}
    status, body, _ = await post(client, "shop/redact", other)
    assert status == 200 and "ignored" in body
    async with sessionmaker(daemon.engine)() as s:
        assert (await s.execute(select(Order.email).where(Order.number == "2001"))).scalar_one()
    status, body, _ = await post(client, "shop/redact", {"shop_id": 954889, "shop_domain": "casa-azul.myshopify.com"})
    assert status == 200 and body["erased"]["orders"] == 3
    async with sessionmaker(daemon.engine)() as s:
        assert (await s.execute(select(Order.email, Order.phone).where(
            (Order.email.is_not(None)) | (Order.phone.is_not(None))))).all() == []
        assert (await s.execute(select(PrivacyRequest.kind, PrivacyRequest.orders))).all() == [("shop_erase", 3)]
