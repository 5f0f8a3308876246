"""Push first, end to end: orders in Spain, Greece and Brazil heard through 17TRACK pushes, the same
journey through AfterShip and EasyPost, a UPS parcel through Track Alert. The real daemon, its real web
server and the real Twilio/SendGrid channels; each source is a fake speaking its wire format. Messages
are counted where the customer would see them: at the fake Twilio and SendGrid."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.fakes.aftership import FakeAfterShip
from tests.fakes.easypost import FakeEasyPost
from tests.fakes.sendgrid import FakeSendGrid
from tests.fakes.seventeentrack import FakeSeventeenTrack
from tests.fakes.ups_trackalert import FakeUPSTrackAlert
from tests.helpers import add, notifications, shipment
from tests.messaging_env import point_public_url
from tests.sources_env import point_webhooks, sources_settings

JOURNEY = ("transit", "ofd", "delivered")
SUBJECTS = {
    "es": ("está en camino", "llega hoy", "entregado"),
    "el": ("είναι καθ' οδόν", "φτάνει σήμερα", "παραδόθηκε"),
    "pt-BR": ("está a caminho", "chega hoje", "foi entregue"),
    "en": ("is on its way", "arrives today", "has been delivered"),
}
# (order, tracking number, carrier given by the shop, locale, phone, email, the name the customer reads)
MARKETS = [
    ("ES-1001", "RR123456785ES", None, "es", "+34612345678", "lucia@example.es", "Correos"),
    ("GR-2001", "7200123456", "acs", "el", "+306912345678", "eleni@example.gr", "ACS Courier"),
    ("BR-3001", "10082700123456", "jadlog", "pt-BR", "+5511987654321", "joao@example.com.br", "Jadlog"),
]


async def start(tmp_path, start_daemon, fake, fakes, **extra):
    tw, sg = fakes
    daemon = await start_daemon(sources_settings(tmp_path, fake, tw, sg, **extra), web_server=True)
    point_public_url(daemon)
    point_webhooks(daemon, fake)
    return daemon


async def journey(daemon, clock, fake, numbers, kinds=JOURNEY):
    """Each scan is pushed by the source; the daemon sends what is due. An hour passes between scans."""
    for kind in kinds:
        for number in numbers:
            assert await fake.scan(number, kind) == 200
        await daemon.run_once()
        clock.advance(timedelta(hours=1))
    await daemon.run_once()


def assert_heard(tw, sg, phone, email, locale, carrier_name, order):
    sms, mails = tw.to(phone), sg.to(email)
    assert len(sms) == 3 and len(mails) == 3, (order, len(sms), len(mails))  # once each, per channel
    for mail, words in zip(mails, SUBJECTS[locale]):
        assert words in mail["subject"] and order in mail["subject"]
    assert carrier_name in sms[0]["Body"]  # "shipped" names the real carrier, not the aggregator
    assert carrier_name in FakeSendGrid.text_of(mails[0])
    assert all(name not in m["Body"] for m in sms for name in ("17TRACK", "AfterShip", "EasyPost"))


async def test_spain_greece_brazil_through_17track_pushes(tmp_path, start_daemon, clock, fakes):
    tw, sg = fakes
    async with FakeSeventeenTrack(now=clock.now) as fake:
        daemon = await start(tmp_path, start_daemon, fake, fakes)
        ships = {}
        for order, number, carrier, locale, phone, email, _ in MARKETS:
            ships[order] = await add(daemon, order, number, carrier=carrier, locale=locale, phone=phone, email=email)
        await daemon.run_once()  # registration at 17TRACK: one request for the three numbers
        assert fake.requests.count(("register", 3)) == 1
        assert {fake.parcels[n].carrier for n in ("RR123456785ES",)} == {"19181"}  # Correos' 17TRACK key
        # each carrier's key in 17TRACK's carrier list: ACS 100070, Jadlog 101052
        assert (fake.parcels["7200123456"].carrier, fake.parcels["10082700123456"].carrier) == ("100070", "101052")
        await journey(daemon, clock, fake, [m[1] for m in MARKETS])

        for order, number, carrier, locale, phone, email, name in MARKETS:
            assert_heard(tw, sg, phone, email, locale, name, order)
            ship = await shipment(daemon.engine, ships[order].id)
            assert ship.status == "delivered" and ship.source == "17track"
        assert ships["ES-1001"].carrier == "correos-es"  # detected from the S10 suffix
        assert fake.numbers_in("gettrackinfo") == 0  # nothing was polled: pushes said it all
        await daemon.run_once()
        assert sorted(fake.stopped) == sorted(m[1] for m in MARKETS)  # /stoptrack once delivered
        page = await (await _get(daemon, f"/t/{ships['GR-2001'].public_token}")).text()
        assert "ACS Courier" in page and "17TRACK" not in page


async def test_17track_names_the_carrier_of_a_number_nobody_recognised(tmp_path, start_daemon, clock, fakes):
    from tracker.carriers.detect import candidates

    tw, _ = fakes
    number = "BN4ZK7Q2W9X"
    assert candidates(number) == []
    async with FakeSeventeenTrack(now=clock.now) as fake:
        fake.detects[number] = "101008"  # BOX NOW, in 17TRACK's carrier list
        daemon = await start(tmp_path, start_daemon, fake, fakes)
        ship = await add(daemon, "GR-2002", number, carrier=None, locale="el", phone="+306912345679", email=None)
        assert ship.carrier == "auto"
        await daemon.run_once()
        assert "carrier" not in fake.registered[number]  # sent without a key: 17TRACK detects it
        assert (await shipment(daemon.engine, ship.id)).carrier == "boxnow"
        await journey(daemon, clock, fake, [number], kinds=("transit",))
        assert [m["Body"] for m in tw.to("+306912345679")][0].count("BOX NOW") == 1


async def _get(daemon, path):
    import aiohttp

    async with aiohttp.ClientSession() as http:
        resp = await http.get(f"http://127.0.0.1:{daemon.port}{path}")
        await resp.read()
        return resp


@pytest.mark.parametrize("fake_cls", [FakeAfterShip, FakeEasyPost], ids=["aftership", "easypost"])
async def test_the_same_journey_through_aftership_and_easypost(tmp_path, start_daemon, clock, fakes, fake_cls):
    tw, sg = fakes
    async with fake_cls(now=clock.now) as fake:
        daemon = await start(tmp_path, start_daemon, fake, fakes)
        ships = {}
        for order, number, carrier, locale, phone, email, _ in MARKETS:
            ships[order] = await add(daemon, order, number, carrier=carrier, locale=locale, phone=phone, email=email)
        await daemon.run_once()
        assert all(fake.parcels[m[1]].id for m in MARKETS)  # a tracking (tracker) created for each
        await journey(daemon, clock, fake, [m[1] for m in MARKETS])
        for order, number, carrier, locale, phone, email, name in MARKETS:
            assert_heard(tw, sg, phone, email, locale, name, order)
            assert (await shipment(daemon.engine, ships[order].id)).status == "delivered"
        assert fake.numbers_in("list") == 0


async def test_ups_through_track_alert(tmp_path, start_daemon, clock, fakes):
    tw, sg = fakes
    async with FakeUPSTrackAlert(now=clock.now) as fake:
        daemon = await start(tmp_path, start_daemon, fake, fakes)
        ship = await add(daemon, "US-4001", "1Z999AA10123456784", carrier=None, locale="en",
                         phone="+14155550101", email="ana@example.com")
        await daemon.run_once()
        assert fake.subscriptions == [["1Z999AA10123456784"]]
        assert fake.parcels["1Z999AA10123456784"].url.endswith("/webhooks/sources/ups")
        await journey(daemon, clock, fake, ["1Z999AA10123456784"])
        assert_heard(tw, sg, "+14155550101", "ana@example.com", "en", "UPS", "US-4001")
        assert fake.tracks == 0  # subscribed: not polled while pushes come
        row = await shipment(daemon.engine, ship.id)
        assert row.status == "delivered" and row.signed_by == "JOHN"


async def test_tampered_unsigned_and_replayed_pushes_change_nothing(tmp_path, start_daemon, clock, fakes, caplog):
    tw, sg = fakes
    async with FakeSeventeenTrack(now=clock.now) as fake:
        daemon = await start(tmp_path, start_daemon, fake, fakes)
        ship = await add(daemon, "ES-1", "RR123456785ES", carrier=None, locale="es", phone="+34612345678",
                         email="l@example.es")
        await daemon.run_once()
        parcel = fake.scan_of("RR123456785ES", "delivered")
        caplog.clear()
        assert await fake.push(parcel, tamper=True) == 401
        assert await fake.push(parcel, unsigned=True) == 401
        assert await fake.push(parcel, headers={"sign": "0" * 64}) == 401
        await daemon.run_once()
        row = await shipment(daemon.engine, ship.id)
        assert row.status == "pending" and await notifications(daemon.engine) == []
        refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert len(refused) == 3 and "sign" in refused[0]
        assert all(fake.api_key not in r.getMessage() for r in caplog.records)

        assert await fake.push(parcel) == 200           # the real one
        body = fake.pushed[-1][1]
        assert await fake.push(parcel, body=body) == 200  # the same delivery again: an honest retry ...
        assert fake.answers[-1] == {"duplicate": True}    # ... recognised, never a 403
        await daemon.run_once()
        assert await fake.push(parcel, body=body) == 200 and fake.answers[-1] == {"duplicate": True}
        assert (await shipment(daemon.engine, ship.id)).status == "delivered"
        assert len(tw.messages) == 0  # registered already delivered: nothing to tell (and no duplicate)


async def test_aftership_retry_within_its_retry_horizon_is_applied_and_a_stale_one_refused(
        tmp_path, start_daemon, clock, fakes):
    async with FakeAfterShip(now=clock.now) as fake:
        daemon = await start(tmp_path, start_daemon, fake, fakes)
        await add(daemon, "GR-1", "7200123456", carrier="acs", locale="el", phone=None, email="e@example.gr")
        await daemon.run_once()
        parcel = fake.scan_of("7200123456", "transit")
        late = fake.body(parcel)
        stale = fake.body(parcel)
        # AfterShip retries a webhook 14 times over 245,730 s (~68 h), with its first ts
        clock.advance(timedelta(seconds=245_730))
        assert await fake.push(parcel, body=late) == 200
        await daemon.run_once()
        assert len(await notifications(daemon.engine)) == 1  # shipped, by email
        clock.advance(timedelta(days=2))  # 4 days and more after it was sent: no source retries that late
        assert await fake.push(parcel, body=stale) == 403
