"""The customer's country decides: phones read in the country of the shipping address (then billing, then
shop.default_region) for signed Shopify and WooCommerce webhooks, CSV and the API; a phone that cannot be
used is kept out with its reason shown to support and counted; locales fall back by language."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tests.helpers import make_settings, metric
from tests.test_intake_webhooks import sign
from tests.web_helpers import SUPPORT, Client, api_key, console_get, web_daemon
from tracker.bulk import validate_item
from tracker.db import sessionmaker
from tracker.models import Order
from tracker.notify.render import Renderer, locale_chain
from tracker.orders import InputError
from tracker.story import order_story

SHOPIFY_SECRET = "shpss_country_secret"
WOO_SECRET = "woo country secret"

# (country, the phone as the customer typed it in the shop's checkout, E.164 in that country)
CUSTOMERS = [
    ("PT", "912 345 678", "+351912345678"),
    ("ES", "612 34 56 78", "+34612345678"),
    ("GR", "691 234 5678", "+306912345678"),
    ("BR", "(11) 91234-5678", "+5511912345678"),
    ("US", "(415) 555-0133", "+14155550133"),
]


def shopify_order(n: int, country: str, phone: str, *, locale: str = "en") -> dict:
    """A REST Order as Shopify's orders/paid webhook delivers it (the fields tracker reads, and neighbours)."""
    address = {"first_name": "Cliente", "last_name": str(n), "address1": "Rua 1", "city": "Lisboa", "zip": "1000-001",
               "country": country, "country_code": country, "phone": phone}
    return {"id": 5000 + n, "admin_graphql_api_id": f"gid://shopify/Order/{5000 + n}", "name": f"#{n}",
            "order_number": n, "email": f"Cliente.{n}@Example.com", "phone": None, "financial_status": "paid",
            "fulfillment_status": None, "currency": "EUR", "total_price": "49.90", "customer_locale": locale,
            "created_at": "2026-12-07T10:00:00+01:00", "updated_at": "2026-12-07T10:00:05+01:00",
            "order_status_url": f"https://casa-azul.example/orders/{n}/authenticate?key=k{n}",
            "billing_address": {**address, "country_code": "ES", "country": "Spain", "phone": None},
            "shipping_address": address,
            "customer": {"id": 7000 + n, "email": f"cliente.{n}@example.com", "phone": None}}


def shopify_fulfillment(n: int, country: str, phone: str, company: str = "Sandbox") -> dict:
    return {"id": 9000 + n, "order_id": 5000 + n, "status": "success", "name": f"#{n}.1", "service": "manual",
            "created_at": "2026-12-08T09:00:00+01:00", "updated_at": "2026-12-08T09:00:00+01:00",
            "tracking_company": company, "tracking_number": f"SBX-DELIVER-{n}", "tracking_numbers": [f"SBX-DELIVER-{n}"],
            "tracking_url": f"https://carrier.example/t/{n}", "tracking_urls": [f"https://carrier.example/t/{n}"],
            "email": f"cliente.{n}@example.com", "shipment_status": None,
            "destination": {"first_name": "Cliente", "address1": "Rua 1", "city": "Porto", "zip": "4000-001",
                            "country": country, "country_code": country, "phone": phone}}


def woo_order(n: int, country: str, phone: str, *, tracking: bool = True) -> dict:
    """A WooCommerce v3 order with a Shipment Tracking item, as its order.updated webhook delivers it."""
    meta = [{"id": 1, "key": "_wc_shipment_tracking_items", "value": [
        {"tracking_provider": "", "custom_tracking_provider": "Sandbox", "custom_tracking_link": "",
         "tracking_number": f"SBX-DELIVER-W{n}", "date_shipped": "1796630400", "tracking_id": f"t{n}"}]}] if tracking else []
    return {"id": 800 + n, "number": str(800 + n), "status": "completed", "currency": "EUR",
            "date_modified_gmt": "2026-12-08T09:00:00",
            "billing": {"first_name": "Cliente", "email": f"woo.{n}@example.com", "phone": phone, "country": "ES"},
            "shipping": {"first_name": "Cliente", "address_1": "Rua 1", "city": "Porto", "country": country,
                         "phone": ""},
            "meta_data": meta}


@pytest.fixture
async def shop(start_daemon, tmp_path):
    daemon = await web_daemon(start_daemon, tmp_path, shop={"default_region": "ES", "default_locale": "es"},
                              intake={"shopify_secret": SHOPIFY_SECRET, "woocommerce_secret": WOO_SECRET,
                                      "carrier_aliases": {"Sandbox": "sandbox"}}, **SUPPORT)
    client = Client(daemon, await api_key(daemon))
    yield daemon, client
    await client.close()


async def post(c, path: str, payload: dict, headers: dict, secret: str, signature: str):
    body = json.dumps(payload).encode()
    return await c.request("POST", path, data=body, headers={
        "Content-Type": "application/json", signature: sign(secret, body), **headers})


async def post_shopify(c, payload: dict, topic: str, webhook_id: str):
    return await post(c, "/webhooks/shopify", payload, {"X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": webhook_id},
                      SHOPIFY_SECRET, "X-Shopify-Hmac-Sha256")


async def post_woo(c, payload: dict, delivery: str):
    return await post(c, "/webhooks/woocommerce", payload,
                      {"X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Delivery-ID": delivery},
                      WOO_SECRET, "X-WC-Webhook-Signature")


async def orders(daemon) -> dict[str, Order]:
    async with sessionmaker(daemon.engine)() as s:
        return {o.number: o for o in (await s.execute(select(Order))).scalars()}


async def test_shopify_phones_land_in_e164_of_each_customers_country(shop):
    daemon, c = shop
    for i, (country, typed, _) in enumerate(CUSTOMERS):
        status, body, _ = await post_shopify(c, shopify_order(1001 + i, country, typed), "orders/paid", f"p{i}")
        assert status == 200 and body["rejected"] == [], body
        status, body, _ = await post_shopify(c, shopify_fulfillment(2001 + i, country, typed),
                                             "fulfillments/create", f"f{i}")
        assert status == 200 and body["rejected"] == [], body
    got = await orders(daemon)
    for i, (country, _, e164) in enumerate(CUSTOMERS):
        assert got[str(1001 + i)].phone == e164, country  # shipping address (billing says ES)
        assert got[str(2001 + i)].phone == e164, country  # the fulfillment's destination
        assert got[str(1001 + i)].contact_problem is None


async def test_woocommerce_phones_land_in_e164_of_each_customers_country(shop):
    daemon, c = shop
    for i, (country, typed, _) in enumerate(CUSTOMERS):
        status, body, _ = await post_woo(c, woo_order(i, country, typed), f"d{i}")
        assert status == 200 and body["registered"] and body["rejected"] == [], body
    got = await orders(daemon)
    assert [got[str(800 + i)].phone for i in range(len(CUSTOMERS))] == [e for _, _, e in CUSTOMERS]


async def test_the_billing_country_then_the_shops_region_read_a_phone_the_shipping_country_cannot(shop):
    daemon, c = shop
    # shipped to Portugal, a Spanish mobile typed without +34: not in PT's plan, it is in the billing country's
    order = shopify_order(1101, "PT", "612 34 56 78")
    order["billing_address"]["country_code"] = "ES"
    await post_shopify(c, order, "orders/paid", "b1")
    # no address names a country: the shop's region (ES)
    bare = shopify_order(1102, "PT", "612 34 56 78")
    bare["shipping_address"].pop("country_code")
    bare["billing_address"].pop("country_code")
    await post_shopify(c, bare, "orders/paid", "b2")
    got = await orders(daemon)
    assert got["1101"].phone == "+34612345678" and got["1102"].phone == "+34612345678"


async def test_a_phone_in_no_plan_is_kept_out_with_its_reason_shown_and_counted(shop):
    daemon, c = shop
    status, body, _ = await post_shopify(c, shopify_order(1201, "GR", "691 234"), "orders/paid", "x1")
    assert status == 200 and body["registered"][0]["order_number"] == "1201"
    order = (await orders(daemon))["1201"]
    assert order.phone is None and order.email == "Cliente.1201@example.com"
    assert order.contact_problem.startswith("phone left out: ") and "GR" in order.contact_problem
    assert "691 234" not in order.contact_problem and "691234" not in order.contact_problem  # masked
    # shown to support: API, console (same view), `tracker status`
    status, detail, _ = await c.request("GET", "/api/v1/orders/1201")
    assert detail["order"]["contact_problem"] == order.contact_problem
    status, page, _ = await console_get(daemon, "/support/order?number=1201")
    assert status == 200 and "Contact problem: phone left out" in page
    story = await order_story(daemon.engine, "1201", daemon.settings)
    assert "CONTACT PROBLEM: phone left out" in story
    status, text, _ = await c.request("GET", "/metrics")
    assert metric(text, "tracker_orders_contact_problems") == 1
    # the shop fixes the phone: the problem is cleared
    await post_shopify(c, {**shopify_order(1201, "GR", "691 234 5678"), "updated_at": "2026-12-07T11:00:00+01:00"},
                       "orders/paid", "x2")
    order = (await orders(daemon))["1201"]
    assert order.phone == "+306912345678" and order.contact_problem is None
    status, text, _ = await c.request("GET", "/metrics")
    assert metric(text, "tracker_orders_contact_problems") == 0


async def test_a_phone_alone_in_no_plan_is_refused_naming_the_field(shop):
    daemon, c = shop
    order = shopify_order(1301, "GR", "691 234")
    order["email"] = order["customer"]["email"] = None
    status, body, _ = await post_shopify(c, order, "orders/paid", "y1")
    assert status == 200 and body["registered"] == [] and body["rejected"][0]["field"] == "phone"
    assert "1301" not in await orders(daemon)


async def test_api_and_csv_read_the_phone_in_the_country_field(shop, tmp_path):
    daemon, c = shop
    status, body, _ = await c.request("POST", "/api/v1/shipments", json={
        "order_number": "API-1", "email": "a@example.com", "phone": "912 345 678", "country": "PT"})
    assert status in (200, 201), body
    assert (await orders(daemon))["API-1"].phone == "+351912345678"
    status, body, _ = await c.request("POST", "/api/v1/shipments", json={
        "order_number": "API-2", "email": "a@example.com", "phone": "912 345 678", "country": "Portugal"})
    assert status == 422 and body["error"]["field"] == "country" and "two letters" in body["error"]["fix"]
    status, body, _ = await c.request("POST", "/api/v1/shipments", json={
        "order_number": "API-3", "email": "a@example.com", "phone": "691 234", "country": "GR"})
    assert status == 422 and body["error"]["field"] == "phone" and "GR" in body["error"]["problem"]
    assert "API-2" not in await orders(daemon) and "API-3" not in await orders(daemon)


def test_validate_item_reads_country_lists_in_order(tmp_path):
    settings = make_settings(tmp_path, shop={"default_region": "ES"})
    reg = validate_item(settings, {"order_number": "1", "phone": "912 345 678", "country": "pt"})
    assert reg.phone == "+351912345678"
    reg = validate_item(settings, {"order_number": "1", "phone": "(11) 91234-5678", "country": "BR,ES"})
    assert reg.phone == "+5511912345678"
    reg = validate_item(settings, {"order_number": "1", "phone": "+30 691 234 5678", "country": "PT"})
    assert reg.phone == "+306912345678"  # international form: the country plays no part
    with pytest.raises(InputError) as exc:
        validate_item(settings, {"order_number": "1", "phone": "12", "country": "XX"})
    assert exc.value.field == "country"


@pytest.mark.parametrize("given, chain_starts", [
    ("pt-PT", ["pt-PT", "pt", "pt-BR"]), ("es-MX", ["es-MX", "es"]), ("el-GR", ["el-GR", "el"]),
    ("en-GB", ["en-GB", "en"]), ("fr-FR", ["fr-FR", "fr", "es"]),
])
def test_locales_fall_back_by_language_then_the_shops_default(given, chain_starts):
    r = Renderer(default_locale="es")
    chain = locale_chain(given, "es", r.available)
    assert chain[:len(chain_starts)] == chain_starts and "en" in chain
    used = {"pt-PT": "pt-BR", "es-MX": "es", "el-GR": "el", "en-GB": "en", "fr-FR": "es"}[given]
    assert r._pick("shipped.txt.j2", given)[1] == used


async def test_the_order_keeps_the_locale_it_was_given(shop):
    daemon, c = shop
    await post_shopify(c, shopify_order(1401, "PT", "912 345 678", locale="pt-PT"), "orders/paid", "l1")
    assert (await orders(daemon))["1401"].locale == "pt-PT"


def test_csv_reads_each_phone_in_its_rows_country_column(tmp_path, capsys):
    import asyncio

    from tracker.cli import main
    from tracker.db import make_engine, upgrade

    settings = make_settings(tmp_path, shop={"default_region": "ES"})
    path = tmp_path / "orders.csv"
    rows = [f"C-{i},sandbox,SBX-DELIVER-C{i},c{i}@example.com,{typed},{country}"
            for i, (country, typed, _) in enumerate(CUSTOMERS)]
    path.write_text("order_number,carrier,tracking_number,email,phone,country\n" + "\n".join(rows)
                    + "\nC-X,sandbox,SBX-DELIVER-CX,x@example.com,912 345 678,Portugal\n", encoding="utf-8")
    assert main(["--config", str(tmp_path / "config.yaml"), "import", str(path)]) == 1  # one bad row
    out = capsys.readouterr().out
    assert "row 7: country: 'PORTUGAL' is not an ISO 3166 country code" in out

    async def phones():
        engine = make_engine(settings.async_database_url)
        try:
            await upgrade(engine)
            async with sessionmaker(engine)() as s:
                return {o.number: o.phone for o in (await s.execute(select(Order))).scalars()}
        finally:
            await engine.dispose()

    assert asyncio.run(phones()) == {f"C-{i}": e164 for i, (_, _, e164) in enumerate(CUSTOMERS)}


def test_tracker_add_reads_the_phone_in_the_country_given(tmp_path, capsys):
    import sqlite3

    from tracker.cli import main

    make_settings(tmp_path, shop={"default_region": "ES"})
    config = ["--config", str(tmp_path / "config.yaml")]
    assert main([*config, "add", "--order", "GR-1", "--email", "e@example.gr", "--phone", "691 234 5678",
                 "--country", "GR"]) == 0
    assert main([*config, "add", "--order", "GR-2", "--email", "e@example.gr", "--phone", "691 234",
                 "--country", "GR"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tracker: phone:") and "in GR or ES" in err
    with sqlite3.connect(tmp_path / "tracker.db") as conn:
        assert conn.execute("select number, phone from orders").fetchall() == [("GR-1", "+306912345678")]
