"""Nothing a shop ships is acknowledged and lost: a fulfillment without a tracking number (Shopify) or an
order completed without tracking data (WooCommerce), and a parcel with no carrier name and a number
nobody recognises when no default aggregator is set, are parcels "not trackable": the customer hears
"shipped" (the shop's carrier and link when it gave them, nothing made up), support gets one alert naming
what is missing, and the still-preparing watch never fires for the order."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.fakes.sendgrid import FakeSendGrid
from tests.helpers import make_settings
from tests.messaging_env import messaging_sections, point_public_url
from tests.test_shops_country import (
    SHOPIFY_SECRET,
    WOO_SECRET,
    post,
    post_shopify,
    post_woo,
    shopify_fulfillment,
    shopify_order,
    woo_order,
)
from tests.web_helpers import SUPPORT, Client
from tracker.db import sessionmaker
from tracker.models import Alert, Notification, Order, Shipment

LINK = "https://transportes-silva.example/seguimento?ref=3001"


def unnumbered(n: int, company: str | None, url: str | None = None) -> dict:
    """Shopify's fulfillments/create of a parcel sent without a tracking number (a local courier, "Other")."""
    return {**shopify_fulfillment(n, "PT", "912 345 678"), "tracking_company": company, "tracking_number": None,
            "tracking_numbers": [], "tracking_url": url, "tracking_urls": [url] if url else []}


async def daemon_for(start_daemon, tmp_path, fakes) -> tuple:
    """A daemon taking signed Shopify and WooCommerce webhooks, sending by the fakes, and a client of it."""
    tw, sg = fakes
    settings = make_settings(tmp_path, **messaging_sections(tw, sg), watch={"handling_hours": 24}, **SUPPORT,
                             shop={"default_region": "ES"},
                             intake={"shopify_secret": SHOPIFY_SECRET, "woocommerce_secret": WOO_SECRET})
    daemon = await start_daemon(settings, web_server=True)
    point_public_url(daemon)
    return daemon, Client(daemon)


async def rows(daemon, model) -> list:
    async with sessionmaker(daemon.engine)() as s:
        return list((await s.execute(select(model).order_by(model.id))).scalars())


async def milestones(daemon) -> dict[str, set[str]]:
    async with sessionmaker(daemon.engine)() as s:
        found = await s.execute(select(Order.number, Notification.milestone).join(Order, Order.id == Notification.order_id))
    out: dict[str, set[str]] = {}
    for number, milestone in found:
        out.setdefault(number, set()).add(milestone.split("#")[0])
    return out


async def test_a_fulfillment_without_a_tracking_number_is_a_parcel_and_never_still_preparing(
        tmp_path, start_daemon, clock, fakes):
    tw, sg = fakes
    daemon, c = await daemon_for(start_daemon, tmp_path, fakes)
    try:
        for n, wid in ((3001, "p1"), (3002, "p2")):  # 3002 is never fulfilled: the watch does run
            status, body, _ = await post_shopify(c, shopify_order(n, "PT", "912 345 678"), "orders/paid", wid)
            assert status == 200 and body["rejected"] == [], body
        woo = {**woo_order(1, "ES", "612 34 56 78", tracking=False), "status": "processing"}
        status, body, _ = await post(c, "/webhooks/woocommerce", woo, {"X-WC-Webhook-Topic": "order.created",
                                     "X-WC-Webhook-Delivery-ID": "w1"}, WOO_SECRET, "X-WC-Webhook-Signature")
        assert status == 200 and body["registered"], body
        clock.advance(timedelta(hours=20))  # shipped within the handling time
        status, body, _ = await post_shopify(c, unnumbered(3001, "Transportes Silva", LINK), "fulfillments/create", "f1")
        assert status == 200 and body["rejected"] == [] and body["registered"][0]["created"] is True, body
        woo_done = {**woo, "status": "completed", "date_modified_gmt": "2026-12-08T10:00:00"}
        status, body, _ = await post_woo(c, woo_done, "w2")
        assert status == 200 and body["rejected"] == [] and body["registered"][0]["created"] is True, body
        # Shopify delivers the update of the same fulfillment: still one parcel
        again = {**unnumbered(3001, "Transportes Silva", LINK), "updated_at": "2026-12-08T09:30:00+01:00"}
        status, body, _ = await post_shopify(c, again, "fulfillments/update", "f2")
        assert status == 200 and body["rejected"] == [] and body["registered"][0]["created"] is False, body
    finally:
        await c.close()
    ships = await rows(daemon, Shipment)
    assert [(s.status, s.carrier_name, s.tracking_url, s.next_check_at, s.source) for s in ships] == [
        ("not_trackable", "Transportes Silva", LINK, None, ""), ("not_trackable", None, None, None, "")]
    await daemon.run_once()
    sms = tw.to("+351912345678")
    shipped = [m["Body"] for m in sms if "Transportes Silva" in m["Body"]]
    assert len(shipped) == 1 and LINK in shipped[0], [m["Body"] for m in sms]
    mail = [FakeSendGrid.text_of(m) for m in sg.to("cliente.3001@example.com")]
    assert len(mail) == 1 and "Transportes Silva" in mail[0] and LINK in mail[0]
    assert "tracking number" not in mail[0]  # it has none: nothing made up
    woo_sms = [m["Body"] for m in tw.to("+34612345678")]
    woo_mail = [FakeSendGrid.text_of(m) for m in sg.to("woo.1@example.com")]
    assert len(woo_sms) == 1 and len(woo_mail) == 1, (woo_sms, woo_mail)
    for text in (*woo_sms, *woo_mail, *(m["Body"] for m in sms), *mail):
        assert "NO-NUMBER" not in text and "unknown" not in text and " with ." not in text, text
    for _ in range(4):  # days pass: the sweep runs, and only the order never fulfilled hears "still preparing"
        clock.advance(timedelta(days=1))
        await daemon.run_once()
    told = await milestones(daemon)
    assert told["3001"] == {"shipped"} and told["801"] == {"shipped"}, told
    assert "preparing" in told["3002"], told
    alerts = [a for a in await rows(daemon, Alert) if a.cause == "not_trackable"]
    assert len(alerts) == 2, [a.message for a in alerts]
    assert "3001" in alerts[0].message and "Transportes Silva" in alerts[0].message
    assert all("without a tracking number" in a.message and "Fix:" in a.message for a in alerts)


async def test_no_carrier_name_and_a_number_nobody_knows_is_kept_not_trackable_naming_what_is_missing(
        tmp_path, start_daemon, clock, fakes):
    tw, sg = fakes
    daemon, c = await daemon_for(start_daemon, tmp_path, fakes)
    try:
        status, body, _ = await post_shopify(c, shopify_order(3101, "PT", "912 345 678"), "orders/paid", "p1")
        assert status == 200, body
        odd = {**shopify_fulfillment(3101, "PT", "912 345 678"), "tracking_company": None,
               "tracking_number": "ZX99", "tracking_numbers": ["ZX99"], "tracking_url": None, "tracking_urls": []}
        status, body, _ = await post_shopify(c, odd, "fulfillments/create", "f1")
        assert status == 200 and body["rejected"] == [] and body["registered"][0]["created"] is True, body
    finally:
        await c.close()
    (ship,) = await rows(daemon, Shipment)
    assert (ship.status, ship.carrier, ship.tracking_number, ship.source) == ("not_trackable", "unknown", "ZX99", "")
    for _ in range(3):
        await daemon.run_once()
        clock.advance(timedelta(days=1))
    assert (await milestones(daemon))["3101"] == {"shipped"}
    (sms,) = tw.to("+351912345678")
    assert "3101" in sms["Body"] and "unknown" not in sms["Body"], sms["Body"]
    (mail,) = [FakeSendGrid.text_of(m) for m in sg.to("cliente.3101@example.com")]
    assert "ZX99" in mail and "unknown" not in mail
    (alert,) = [a for a in await rows(daemon, Alert) if a.cause == "not_trackable"]
    assert "ZX99" in alert.message and "carrier name" in alert.message and "sources.default" in alert.message


async def test_the_page_of_a_parcel_nobody_tracks_says_shipped_with_the_shops_carrier_and_follows_its_link(
        tmp_path, start_daemon, fakes):
    daemon, c = await daemon_for(start_daemon, tmp_path, fakes)
    try:
        status, body, _ = await post_shopify(c, unnumbered(3201, "Transportes Silva", LINK), "fulfillments/create", "f1")
        assert status == 200 and body["registered"], body
        status, body, _ = await post_shopify(c, {**unnumbered(3202, None), "tracking_numbers": ["ZX98"]},
                                             "fulfillments/create", "f2")
        assert status == 200 and body["registered"], body
        silva, bare = await rows(daemon, Shipment)
        for lang, said, follow in [
                ("en", "Shipped with Transportes Silva", "Follow your parcel on the carrier&#39;s website"),
                ("pt-BR", "Enviado pela Transportes Silva", "Acompanhe sua encomenda no site da transportadora"),
                ("es", "Enviado con Transportes Silva", "Sigue tu paquete en la web del transportista"),
                ("el", "Στάλθηκε μέσω Transportes Silva", "Παρακολουθήστε το δέμα σας στον ιστότοπο της μεταφορικής")]:
            status, page, _ = await c.request("GET", f"/t/{silva.public_token}?lang={lang}")
            assert status == 200 and said in page and follow in page, (lang, page)
            assert f'href="{LINK.replace("&", "&amp;")}"' in page or f'href="{LINK}"' in page
            assert "NO-NUMBER" not in page and 'data-status="not_trackable"' in page
        status, page, _ = await c.request("GET", f"/t/{bare.public_token}?lang=en")
        assert status == 200 and ">Shipped<" in page and "ZX98" in page and "unknown" not in page.lower(), page
        assert "does not share this parcel" in page and 'class="follow"' not in page
    finally:
        await c.close()
