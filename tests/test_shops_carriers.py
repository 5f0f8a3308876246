"""Any carrier a shop can name: the alias table, unknown names and numbers through the default
aggregator's own detection (the shop's name is what the customer reads), and parcels no source can track
(announced as shipped with the shop's link, one alert, never "still preparing")."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.fakes.aftership import FakeAfterShip
from tests.fakes.easypost import FakeEasyPost
from tests.fakes.seventeentrack import FakeSeventeenTrack
from tests.fakes.sendgrid import FakeSendGrid
from tests.helpers import make_settings
from tests.messaging_env import messaging_sections, point_public_url
from tests.sources_env import point_webhooks, source_sections
from tests.test_intake_webhooks import sign
from tests.web_helpers import SUPPORT, Client, console_get
from tracker.bulk import validate_item
from tracker.carriers.catalog import CATALOG, NAMES, normalise, resolve
from tracker.carriers.detect import s10_check
from tracker.db import sessionmaker
from tracker.models import Alert, Notification, Shipment
from tracker.orders import InputError
from tracker.story import order_story

SECRET = "shpss_carriers_secret"


def s10(prefix: str, serial: str, country: str) -> str:
    return f"{prefix}{serial}{s10_check(serial)}{country}"


@pytest.mark.parametrize("typed, carrier", [
    ("CTT", "ctt"), ("CTT Expresso", "ctt"), ("ctt-expresso", "ctt"), ("CTT Express", "ctt-express"),
    ("Paack", "paack"), ("DPD Portugal", "dpd-pt"), ("DPD", "dpd"), ("GLS", "gls-es"), ("InPost", "inpost"),
    ("Nacex", "nacex"), ("Envialia", "envialia"), ("SEUR", "seur"), ("Seur S.A.", "seur"), ("MRW", "mrw"),
    ("Sending", "sending"), ("Correos", "correos-es"), ("Correos Express", "correos-express"),
    ("Geniki Taxydromiki", "geniki"), ("ΓΕΝΙΚΗ ΤΑΧΥΔΡΟΜΙΚΗ", "geniki"), ("Γενική Ταχυδρομική", "geniki"),
    ("ACS Courier", "acs"), ("ACS", "acs"), ("ELTA", "elta"), ("ΕΛΤΑ", "elta"), ("Speedex", "speedex"),
    ("BOX NOW", "boxnow"), ("Loggi", "loggi"), ("Total Express", "total-express"), ("Jadlog", "jadlog"),
    ("J&T Express", "jt-br"), ("J&T", "jt-br"), ("Mercado Envíos", "mercado-envios"), ("Correios", "correios"),
    ("SEDEX", "correios"), ("UPS", "ups"), ("FedEx Ground", "fedex"), ("DHL Express", "dhl"), ("USPS", "usps"),
])
def test_the_alias_table_knows_what_shops_type(typed, carrier):
    assert resolve(typed) == carrier


def test_the_alias_table_maps_each_carrier_to_each_aggregators_code():
    assert (CATALOG["ctt"].seventeen, CATALOG["ctt"].aftership) == (16101, "portugal-ctt")
    assert CATALOG["paack"].seventeen == 100364 and CATALOG["ctt-express"].seventeen == 100114
    assert resolve("Transportes Silva") is None and resolve("") is None
    assert all(v in CATALOG for v in NAMES.values())
    assert normalise("  J&T  Express!! ") == "jt express"
    assert resolve("Silva", {"silva": "ctt"}) == "ctt"  # the shop's own aliases first


def test_numbers_and_names_tracker_does_not_know_go_to_the_default_aggregator(tmp_path):
    settings = make_settings(tmp_path, carriers={"17track": {"api_key": "k"}}, sources={"default": "17track"})
    ctt = s10("RR", "12345678", "PT")
    reg = validate_item(settings, {"order_number": "1", "tracking_number": ctt, "email": "a@example.com"})
    assert (reg.carrier, reg.source) == ("ctt", "17track")  # CTT's S10: no longer "not configured"
    france = s10("RR", "12345678", "FR")
    reg = validate_item(settings, {"order_number": "1", "tracking_number": france, "email": "a@example.com"})
    assert (reg.carrier, reg.source, reg.carrier_name) == ("auto", "17track", "Post FR")
    reg = validate_item(settings, {"order_number": "1", "carrier": "Transportes Silva", "tracking_number": "TS1234",
                                   "email": "a@example.com"})
    assert (reg.carrier, reg.source, reg.carrier_name) == ("auto", "17track", "Transportes Silva")
    reg = validate_item(settings, {"order_number": "1", "carrier": "CTT Expresso", "tracking_number": "DA1",
                                   "email": "a@example.com"})
    assert (reg.carrier, reg.carrier_name) == ("ctt", "CTT Expresso")


def test_without_a_default_aggregator_the_api_refuses_an_unknown_carrier_naming_the_fix(tmp_path):
    settings = make_settings(tmp_path)
    with pytest.raises(InputError) as exc:
        validate_item(settings, {"order_number": "1", "carrier": "Transportes Silva", "tracking_number": "TS1",
                                 "email": "a@example.com"})
    assert exc.value.field == "carrier"
    with pytest.raises(InputError) as exc:
        validate_item(settings, {"order_number": "1", "carrier": "sandbox", "tracking_number": "SBX-DELIVER-1",
                                 "email": "a@example.com", "tracking_url": "javascript:alert(1)"})
    assert exc.value.field == "tracking_url"
    reg = validate_item(settings, {"order_number": "1", "carrier": "Transportes Silva", "tracking_number": "TS1",
                                   "email": "a@example.com"}, untrackable=True)
    assert (reg.trackable, reg.carrier, reg.carrier_name, reg.source) == (False, "transportes-silva",
                                                                          "Transportes Silva", "")


def fulfillment(n: int, company: str, number: str, *, url: str | None = None) -> dict:
    """A REST Fulfillment as Shopify's fulfillments/create webhook delivers it."""
    return {"id": 9100 + n, "order_id": 5100 + n, "status": "success", "name": f"#{n}.1", "service": "manual",
            "created_at": "2026-03-02T15:00:00+01:00", "updated_at": "2026-03-02T15:00:00+01:00",
            "tracking_company": company, "tracking_number": number, "tracking_numbers": [number],
            "tracking_url": url, "tracking_urls": [url] if url else [], "email": f"cliente{n}@example.pt",
            "shipment_status": None,
            "destination": {"first_name": "Ana", "city": "Porto", "country_code": "PT", "phone": "912 345 6%02d" % n}}


def woo_order(n: int, provider: str, number: str, link: str = "") -> dict:
    return {"id": 900 + n, "number": str(900 + n), "status": "completed", "date_modified_gmt": "2026-03-02T15:00:00",
            "billing": {"email": f"woo{n}@example.es", "phone": "612 34 56 %02d" % n, "country": "ES"},
            "shipping": {"country": "ES"},
            "meta_data": [{"id": 1, "key": "_wc_shipment_tracking_items", "value": [
                {"tracking_provider": "", "custom_tracking_provider": provider, "custom_tracking_link": link,
                 "tracking_number": number, "date_shipped": "1772463600", "tracking_id": f"t{n}"}]}]}


async def post_shopify(c, payload: dict, webhook_id: str):
    body = json.dumps(payload).encode()
    return await c.request("POST", "/webhooks/shopify", data=body, headers={
        "Content-Type": "application/json", "X-Shopify-Topic": "fulfillments/create",
        "X-Shopify-Webhook-Id": webhook_id, "X-Shopify-Hmac-Sha256": sign(SECRET, body)})


async def post_woo(c, payload: dict, delivery: str):
    body = json.dumps(payload).encode()
    return await c.request("POST", "/webhooks/woocommerce", data=body, headers={
        "Content-Type": "application/json", "X-WC-Webhook-Topic": "order.updated",
        "X-WC-Webhook-Delivery-ID": delivery, "X-WC-Webhook-Signature": sign(SECRET, body)})


async def shipments(daemon) -> dict[str, Shipment]:
    async with sessionmaker(daemon.engine)() as s:
        return {x.tracking_number: x for x in (await s.execute(select(Shipment))).scalars()}


@pytest.mark.parametrize("fake_cls", [FakeSeventeenTrack, FakeAfterShip, FakeEasyPost],
                         ids=["17track", "aftership", "easypost"])
async def test_ctt_paack_and_an_invented_carrier_become_tracked_parcels_through_the_default_aggregator(
        tmp_path, start_daemon, clock, fakes, fake_cls):
    tw, sg = fakes
    async with fake_cls(now=clock.now) as fake:
        sections = {**messaging_sections(tw, sg), **source_sections(fake)}
        settings = make_settings(tmp_path, **sections, intake={"shopify_secret": SECRET, "woocommerce_secret": SECRET},
                                 shop={"default_region": "ES"})
        daemon = await start_daemon(settings, web_server=True)
        point_public_url(daemon)
        point_webhooks(daemon, fake)
        ctt, paack, silva = s10("DA", "00012345", "PT"), "PAACK0000123", "TS000777"
        c = Client(daemon)
        try:
            for i, (company, number) in enumerate([("CTT Expresso", ctt), ("Paack", paack)], 1):
                status, body, _ = await post_shopify(c, fulfillment(i, company, number), f"w{i}")
                assert status == 200 and body["rejected"] == [] and body["registered"], body
            status, body, _ = await post_woo(c, woo_order(3, "Transportes Silva", silva), "d3")
            assert status == 200 and body["rejected"] == [] and body["registered"], body
        finally:
            await c.close()
        ships = await shipments(daemon)
        source = fake.label
        assert {n: (s.carrier, s.source, s.carrier_name) for n, s in ships.items()} == {
            ctt: ("ctt", source, "CTT Expresso"), paack: ("paack", source, None),
            silva: ("auto", source, "Transportes Silva")}
        await daemon.run_once()  # registered at the aggregator: by its code where it has one, else detected
        assert all(fake.parcels[n].id for n in (ctt, paack, silva))
        if source == "17track":
            assert fake.registered[ctt]["carrier"] == 16101 and fake.registered[paack]["carrier"] == 100364
            assert "carrier" not in fake.registered[silva]  # 17TRACK's auto-detection
        elif source == "aftership":
            assert fake.parcels[ctt].carrier == "portugal-ctt"
            assert fake.parcels[silva].carrier == "acscourier"  # what the fake's detect-courier finds
        for number in (ctt, paack, silva):
            assert await fake.scan(number, "transit") == 200
        await daemon.run_once()
        for n, (name, phone, email) in {1: ("CTT Expresso", "+351912345601", "cliente1@example.pt"),
                                        2: ("Paack", "+351912345602", "cliente2@example.pt"),
                                        3: ("Transportes Silva", "+34612345603", "woo3@example.es")}.items():
            sms, mails = tw.to(phone), sg.to(email)
            assert len(sms) == 1 and name in sms[0]["Body"], (name, [m["Body"] for m in sms])
            assert len(mails) == 1 and name in FakeSendGrid.text_of(mails[0])
            assert all(a not in sms[0]["Body"] for a in ("17TRACK", "AfterShip", "EasyPost"))


async def test_an_untrackable_carrier_is_a_parcel_announced_with_the_shops_link_one_alert_no_preparing(
        tmp_path, start_daemon, clock, fakes):
    tw, sg = fakes
    settings = make_settings(tmp_path, **messaging_sections(tw, sg), intake={"shopify_secret": SECRET},
                             watch={"handling_hours": 24}, **SUPPORT)
    daemon = await start_daemon(settings, web_server=True)
    point_public_url(daemon)
    c = Client(daemon)
    link = "https://transportes-silva.example/seguimento?n=TS-1"
    try:
        status, body, _ = await post_shopify(c, fulfillment(1, "Transportes Silva", "TS-1", url=link), "u1")
        assert status == 200 and body["rejected"] == [] and body["registered"][0]["created"] is True, body
        status, body, _ = await post_shopify(c, fulfillment(2, "Transportes Silva", "TS-2", url=link), "u2")
        assert status == 200 and body["registered"], body
    finally:
        await c.close()
    ships = await shipments(daemon)
    assert {(s.status, s.carrier_name, s.next_check_at) for s in ships.values()} == {
        ("not_trackable", "Transportes Silva", None)}
    await daemon.run_once()
    sms = tw.to("+351912345601")
    assert len(sms) == 1 and "Transportes Silva" in sms[0]["Body"] and link in sms[0]["Body"]
    mail = sg.to("cliente1@example.pt")
    assert len(mail) == 1 and link in FakeSendGrid.text_of(mail[0])
    for _ in range(4):  # days pass: nobody polls it, and "still preparing" never fires for it
        clock.advance(timedelta(days=1))
        await daemon.run_once()
    async with sessionmaker(daemon.engine)() as s:
        alerts = list((await s.execute(select(Alert))).scalars())
        notes = list((await s.execute(select(Notification))).scalars())
    assert [(a.cause, a.carrier) for a in alerts] == [("not_trackable", "transportes-silva")]
    assert "Transportes Silva" in alerts[0].message
    assert sorted({n.milestone for n in notes}) == ["shipped"] and len(notes) == 4  # sms + email, two orders
    story = await order_story(daemon.engine, "1", daemon.settings)
    assert "NOT_TRACKABLE" in story and "Transportes Silva" in story and link in story
    status, page, _ = await console_get(daemon, "/support/order?number=1")
    assert status == 200 and "not_trackable" in page and "Transportes Silva" in page and "transportes-silva.example" in page


def test_a_shop_alias_to_auto_keeps_the_shops_name():
    from tracker.shops.payloads import carrier

    assert carrier({"Mi Mensajero": "auto", "Silva": "ctt"}, "MI MENSAJERO") == "MI MENSAJERO"
    assert carrier({"Mi Mensajero": "auto", "Silva": "ctt"}, "silva") == "ctt"
    assert carrier({}, " Paack ") == "Paack"


@pytest.mark.parametrize("typed, country, carrier", [
    ("DPD", "PT", "dpd-pt"), ("DPD", "GB", "dpd-uk"), ("DPD", "ES", "dpd"), ("GLS", "PT", "gls-pt"),
    ("GLS", "ES", "gls-es"), ("GLS", "IT", "gls-it"), ("InPost", "PT", "inpost-pt"), ("InPost", "ES", "inpost-es"),
    ("DPD Germany", "PT", "dpd-de"), ("CTT", "ES", "ctt"),
])
def test_a_group_name_is_split_by_the_destination_country(tmp_path, typed, country, carrier):
    settings = make_settings(tmp_path, carriers={"17track": {"api_key": "k"}}, sources={"default": "17track"})
    reg = validate_item(settings, {"order_number": "1", "carrier": typed, "tracking_number": "X123456",
                                   "email": "a@example.com", "country": country})
    assert reg.carrier == carrier
