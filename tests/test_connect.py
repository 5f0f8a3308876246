"""`tracker shopify connect` and `tracker woocommerce connect` against the fake Admin GraphQL and REST APIs:
exactly the webhooks tracker needs, the orders that still matter registered once, and every refusal
named with its fix before anything is written."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import func, select

from tests.fakes.shopify_admin import FakeShopify
from tests.fakes.woocommerce import FakeWooCommerce
from tests.shops_env import PUBLIC, SHOPIFY_SECRET, WOO_SECRET, seed_shopify, seed_woocommerce, shop_settings
from tracker.db import make_engine, sessionmaker, upgrade
from tracker.models import Order, Shipment, ShopResource
from tracker.shops import connect
from tracker.shops.shopify import Admin, AdminError

HOOK = f"{PUBLIC}/webhooks/shopify"


@pytest.fixture
async def shopify(clock):
    async with FakeShopify(now=lambda: clock.now().timestamp()) as fake:
        yield fake


@pytest.fixture
async def woo(clock):
    async with FakeWooCommerce(now=lambda: clock.now().timestamp()) as fake:
        yield fake


async def engine_for(settings):
    engine = make_engine(settings.async_database_url)
    await upgrade(engine)
    return engine


async def rows(engine):
    async with sessionmaker(engine)() as s:
        orders = {o.number: o for o in (await s.execute(select(Order))).scalars()}
        ships = list((await s.execute(select(Shipment).order_by(Shipment.tracking_number))).scalars())
    return orders, ships


async def test_shopify_connect_makes_the_webhooks_and_backfills_once(tmp_path, shopify, clock):
    kinds = seed_shopify(shopify, clock.now())
    settings = shop_settings(tmp_path, shopify)
    engine = await engine_for(settings)
    try:
        report = await connect.shopify_connect(engine, settings, days=30, clock=clock)
        # exactly the four subscriptions, at tracker's address, as JSON
        assert sorted((h["topic"], h["uri"], h["format"]) for h in shopify.hooks) == [
            ("FULFILLMENTS_CREATE", HOOK, "JSON"), ("FULFILLMENTS_UPDATE", HOOK, "JSON"),
            ("ORDERS_CANCELLED", HOOK, "JSON"), ("ORDERS_PAID", HOOK, "JSON")]
        orders, ships = await rows(engine)
        want = {n for n, k in kinds.items()
                if k in ("waiting", "in transit", "two parcels, one moving", "shipped untracked")}
        assert set(orders) == want  # not the delivered, unpaid, cancelled or older ones
        # shipped without a tracking number: a parcel all the same (not trackable, under its fulfillment's
        # name), as the fulfillments/create webhook makes it, so the order is never "still preparing"
        assert {s.tracking_number for s in ships} == {
            f"SBX-DELIVER-{n}" for n, k in kinds.items() if k == "in transit"} | {
            f"SBX-SILENT-{n}B" for n, k in kinds.items() if k == "two parcels, one moving"} | {
            f"NO-NUMBER-{n}.1" for n, k in kinds.items() if k == "shipped untracked"}
        assert {s.status for s in ships if s.tracking_number.startswith("NO-NUMBER-")} == {"not_trackable"}
        assert report.parcels == 11 and report.waiting == 5 and report.known == 0 and report.rejected == []
        assert report.skipped == {"delivered or cancelled parcels": 5, "not paid": 5}  # cancelled: not asked for
        # each customer's contact data and language, and Shopify's order status page
        pt = orders["1001"]
        assert (pt.email, pt.phone, pt.locale) == ("ana.conceicao@example.pt", "+351912345678", "pt-PT")
        assert pt.status_url.startswith("https://casa-azul.myshopify.com/")
        assert {orders[n].phone for n in ("1008", "1015", "1022", "1029")} == {
            "+34612345678", "+306912345678", "+5511912345678", "+14155550133"}
        # what the merchant reads: what was made, what to switch off, the privacy topics
        text = connect.format_report(report, settings)
        for words in ("created   orders/paid", "Shipping confirmation", "Shipping update", "Out for delivery",
                      "Delivered", "customers/redact", "shop/redact", "customers/data_request", HOOK):
            assert words in text

        again = await connect.shopify_connect(engine, settings, days=30, clock=clock)
        assert len(shopify.hooks) == 4 and again.created == [] and len(again.kept) == 4
        assert (again.parcels, again.waiting, again.known) == (0, 0, 16)
        assert await rows(engine) == (orders, ships) or len((await rows(engine))[1]) == len(ships)
        assert "kept      orders/paid (already there)" in connect.format_report(again, settings)
    finally:
        await engine.dispose()


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


async def test_a_webhook_of_a_backfilled_state_is_applied_once(tmp_path, shopify, clock, start_daemon):
    """The backfill claims each order's and fulfillment's state as the webhooks do: Shopify's delivery of
    the same state is a duplicate, an older one is stale, a newer one applies."""
    from tests.web_helpers import Client

    seed_shopify(shopify, clock.now())
    settings = shop_settings(tmp_path, shopify, server={"enabled": False, "port": 0, "host": "127.0.0.1"})
    daemon = await start_daemon(settings, web_server=True)
    await connect.shopify_connect(daemon.engine, settings, clock=clock)
    order = next(o for o in shopify.all_orders if o["name"] == "#1002")
    f = order["fulfillments"][0]
    rest = {"id": int(f["legacyResourceId"]), "order_id": int(order["legacyResourceId"]), "status": "success",
            "name": f["name"], "tracking_company": "Sandbox", "tracking_numbers": [f["trackingInfo"][0]["number"]],
            "email": order["email"], "updated_at": f["updatedAt"], "destination": {"phone": order["phone"]}}
    client = Client(daemon)
    try:
        async def post(payload, topic):
            body = json.dumps(payload).encode()
            return await client.request("POST", "/webhooks/shopify", data=body, headers={
                "X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": sign(SHOPIFY_SECRET, body),
                "Content-Type": "application/json"})

        assert (await post(rest, "fulfillments/create"))[1] == {"duplicate": True}
        paid = {"id": int(order["legacyResourceId"]), "name": "#1002", "email": "someone.else@example.com",
                "updated_at": (clock.now() - timedelta(days=20)).isoformat()}
        assert (await post(paid, "orders/paid"))[1] == {"stale": True}
        newer = {**rest, "updated_at": (clock.now() + timedelta(minutes=5)).isoformat(),
                 "tracking_numbers": ["SBX-DELIVER-9002"]}
        status, body, _ = await post(newer, "fulfillments/update")
        assert status == 200 and body["registered"][0]["created"] is True
        orders, _ = await rows(daemon.engine)
        assert orders["1002"].email == order["email"]  # the stale state changed nothing
    finally:
        await client.close()


async def test_client_credentials_tokens_are_fetched_and_renewed(tmp_path, shopify, clock):
    settings = shop_settings(tmp_path, shopify, shopify={"access_token": "", "client_id": "fake-client-id",
                                                         "client_secret": SHOPIFY_SECRET})
    shopify.client_secret = SHOPIFY_SECRET
    shopify.token_lifetime = 86399
    async with aiohttp.ClientSession() as http:
        admin = Admin(settings.shopify, http, clock=clock)
        assert await admin.check() == "Casa Azul"
        assert shopify.grants == 1
        clock.advance(timedelta(hours=23, minutes=56))  # within five minutes of the end: a new one first
        await admin.check()
        assert shopify.grants == 2 and shopify.refused_tokens == 0
        shopify.tokens.clear()  # revoked early (the app reinstalled): one 401, a new token, carry on
        await admin.check()
        assert shopify.grants == 3 and shopify.refused_tokens == 1


async def test_the_rate_limit_is_honoured(tmp_path, shopify, clock):
    """A bucket hardly larger than one page's query: the client waits for the refill before each page
    instead of being throttled; when Shopify throttles anyway (HTTP 200 THROTTLED, or 429) it waits and
    asks again."""
    from tests.fakes._base import Fault

    seed_shopify(shopify, clock.now())
    shopify.bucket_max, shopify.restore_rate = 130, 100
    throttled = {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}], "extensions": {"cost": {
        "requestedQueryCost": 12, "actualQueryCost": None,
        "throttleStatus": {"maximumAvailable": 130, "currentlyAvailable": 0, "restoreRate": 100}}}}
    shopify.inject(Fault(status=200, body=throttled))
    shopify.inject(Fault(status=429, body={"errors": "Exceeded 2 calls per second for api client."},
                         headers={"Retry-After": "0.1"}))
    settings = shop_settings(tmp_path, shopify)
    engine = await engine_for(settings)
    try:
        report = await connect.shopify_connect(engine, settings, clock=clock, page_size=5)
    finally:
        await engine.dispose()
    assert report.parcels == 11 and report.waiting == 5  # 5 of them shipped without a tracking number
    assert shopify.throttled == 0 and report.throttled == 2  # only the two injected
    assert report.waited > 0.1  # it waited for the refill between pages


@pytest.mark.parametrize("change, field, words", [
    ({"shopify": {"access_token": "shpat_wrong"}}, "shopify.access_token", "HTTP 401"),
    ({"shopify": {"shop": ""}}, "shopify.shop", "is empty"),
    ({"shopify": {"access_token": "", "client_id": "fake-client-id"}}, "shopify.client_secret", "is empty"),
    ({"shopify": {"access_token": "", "client_id": "fake-client-id", "client_secret": "nope"}},
     "intake.shopify_secret", "differs from shopify.client_secret"),
    ({"intake": {"shopify_secret": ""}}, "intake.shopify_secret", "would refuse every webhook"),
    ({"server": {"public_url": "http://track.casa-azul.example"}}, "server.public_url", "only to HTTPS"),
    ({"server": {"public_url": "https://127.0.0.1:8080"}}, "server.public_url", "points at this machine"),
])
async def test_shopify_connect_refuses_bad_settings_before_writing(tmp_path, shopify, clock, change, field, words):
    seed_shopify(shopify, clock.now())
    settings = shop_settings(tmp_path, shopify, **change)
    engine = await engine_for(settings)
    try:
        with pytest.raises(AdminError) as info:
            await connect.shopify_connect(engine, settings, clock=clock)
        assert info.value.field == field and words in info.value.problem and info.value.fix
        assert shopify.hooks == [] and (await rows(engine)) == ({}, [])
    finally:
        await engine.dispose()


async def test_missing_scopes_and_old_orders_are_refused_naming_the_scope(tmp_path, shopify, clock):
    seed_shopify(shopify, clock.now())
    settings = shop_settings(tmp_path, shopify)
    engine = await engine_for(settings)
    try:
        shopify.scopes = ["read_products"]
        with pytest.raises(AdminError, match="read_orders") as info:
            await connect.shopify_connect(engine, settings, clock=clock)
        assert "install it again" in info.value.fix
        shopify.scopes = ["read_orders"]
        with pytest.raises(AdminError, match="read_all_orders"):
            await connect.shopify_connect(engine, settings, clock=clock, days=90)
        with pytest.raises(AdminError, match="out of range"):
            await connect.shopify_connect(engine, settings, clock=clock, days=0)
        assert shopify.hooks == [] and (await rows(engine)) == ({}, [])
    finally:
        await engine.dispose()


async def test_woocommerce_connect_makes_the_webhooks_and_backfills_once(tmp_path, woo, clock):
    seed_woocommerce(woo, clock.now())
    settings = shop_settings(tmp_path, fake_woo=woo)
    engine = await engine_for(settings)
    try:
        report = await connect.woocommerce_connect(engine, settings, clock=clock)
        uri = f"{PUBLIC}/webhooks/woocommerce"
        assert sorted((h["topic"], h["delivery_url"], h["status"], h["secret"]) for h in woo.hooks) == [
            ("order.created", uri, "active", WOO_SECRET), ("order.updated", uri, "active", WOO_SECRET)]
        orders, ships = await rows(engine)
        # completed without tracking data: a parcel all the same (not trackable), as its webhook makes it
        assert len(orders) == 15 and sorted(s.tracking_number for s in ships if s.status != "not_trackable") == [
            f"SBX-DELIVER-W{i}" for i in range(5)]
        assert sum(s.tracking_number.startswith("NO-NUMBER-") and s.status == "not_trackable" for s in ships) == 5
        assert (report.parcels, report.waiting, report.skipped) == (10, 5, {})
        assert "Completed order" in connect.format_report(report, settings)
        async with sessionmaker(engine)() as s:
            assert (await s.execute(select(func.count()).select_from(ShopResource))).scalar_one() == 15

        woo.hooks[0]["status"] = "disabled"  # WooCommerce disabled it after failed deliveries
        again = await connect.woocommerce_connect(engine, settings, clock=clock)
        assert (again.created, again.reactivated, again.parcels, again.waiting, again.known) == (
            [], ["order.created"], 0, 0, 15)
        assert len(woo.hooks) == 2 and all(h["status"] == "active" for h in woo.hooks)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("fake_kw, field, words", [
    ({"key": "ck_other"}, "woocommerce.consumer_key", "Consumer key is invalid"),
    ({"write": False}, "woocommerce.consumer_key", "may not write"),
])
async def test_woocommerce_connect_refuses_bad_keys_before_writing(tmp_path, clock, fake_kw, field, words):
    async with FakeWooCommerce(now=lambda: clock.now().timestamp(), **fake_kw) as woo:
        seed_woocommerce(woo, clock.now())
        settings = shop_settings(tmp_path, fake_woo=woo)
        engine = await engine_for(settings)
        try:
            with pytest.raises(AdminError) as info:
                await connect.woocommerce_connect(engine, settings, clock=clock)
            assert info.value.field == field and words in info.value.problem
            assert woo.hooks == [] and (await rows(engine)) == ({}, [])
        finally:
            await engine.dispose()


def test_cli_connect_prints_what_it_did_and_what_to_switch_off(tmp_path, capsys):
    import asyncio

    from tracker.cli import main

    async def serve_and_run():
        async with FakeShopify() as fake:
            from datetime import datetime, timezone

            seed_shopify(fake, datetime.now(timezone.utc))
            settings = shop_settings(tmp_path, fake)
            return await asyncio.to_thread(main, ["--config", settings.source, "shopify", "connect", "--days", "14"])

    assert asyncio.run(serve_and_run()) == 0
    out = capsys.readouterr().out
    assert "created   fulfillments/create" in out and "Shipping confirmation" in out and "last 14 days" in out

    async def wrong_token():
        async with FakeShopify(token="shpat_other") as fake:
            settings = shop_settings(tmp_path, fake)
            return await asyncio.to_thread(main, ["--config", settings.source, "shopify", "connect"])

    assert asyncio.run(wrong_token()) == 2
    err = capsys.readouterr().err
    assert "shopify.access_token: Shopify refused the access token (HTTP 401)" in err and "shpat_" not in err


@pytest.mark.postgres
async def test_shopify_backfill_on_postgresql(tmp_path, shopify, clock, pg_url):
    seed_shopify(shopify, clock.now())
    settings = shop_settings(tmp_path, shopify, database_url=pg_url)
    engine = await engine_for(settings)
    try:
        first = await connect.shopify_connect(engine, settings, clock=clock, page_size=4)
        again = await connect.shopify_connect(engine, settings, clock=clock, page_size=4)
        orders, ships = await rows(engine)
    finally:
        await engine.dispose()
    assert (first.parcels, first.waiting, first.rejected) == (11, 5, [])  # 5 shipped without a tracking number
    assert (again.parcels, again.waiting, again.known) == (0, 0, 16)
    assert len(orders) == 16 and len(ships) == 11


async def test_an_unreachable_shop_is_named_not_a_traceback(tmp_path, clock):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for creds in ({"access_token": "shpat_x"}, {"access_token": "", "client_id": "id", "client_secret": SHOPIFY_SECRET}):
        settings = shop_settings(tmp_path, shopify={"shop": "casa-azul.myshopify.com", "base_url": f"http://127.0.0.1:{port}",
                                                    **creds})
        async with aiohttp.ClientSession() as http:
            admin = Admin(settings.shopify, http, clock=clock, sleep=lambda s: asyncio.sleep(0))
            with pytest.raises(AdminError) as info:
                await admin.check()
        assert info.value.field == "shopify.shop" and "did not answer" in info.value.problem
        assert f"127.0.0.1:{port}" in info.value.problem


async def test_the_progress_bar_counts_to_the_shops_total(tmp_path, shopify, clock):
    import io

    from tracker.importer import progress_bar

    seed_shopify(shopify, clock.now())
    settings = shop_settings(tmp_path, shopify)
    engine = await engine_for(settings)
    screen = io.StringIO()
    try:
        report = await connect.shopify_connect(engine, settings, clock=clock, page_size=10,
                                               progress=progress_bar(screen, doing="backfilling", unit="orders"))
    finally:
        await engine.dispose()
    frames = screen.getvalue().split("\r")
    assert frames[1].startswith("backfilling [") and frames[1].endswith(f"0/{report.orders} orders")
    assert frames[-1] == f"backfilling [{'#' * 30}] {report.orders}/{report.orders} orders\n"
    assert len(frames) >= 4  # moved page by page
