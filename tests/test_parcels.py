"""Orders with several parcels, orders waiting to ship, and moved delivery dates: end to end through the
real Twilio and SendGrid SDKs against the fakes, messages counted at the fakes, in all four languages."""

from __future__ import annotations

import unicodedata
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.fakes.sendgrid import FakeSendGrid
from tests.helpers import add, notifications, sent, shipment, walk
from tests import test_messaging
from tracker.db import sessionmaker
from tracker.models import Alert, Notification, Shipment
from tracker.orders import InputError, register, validate
from tracker.routing import accepted_carriers, router

PHONE, EMAIL = "+14155550101", "ana@example.com"
# the daemon on the fake Twilio and SendGrid servers, as the messaging tests start it
env = test_messaging.env
LOCALES = ["en", "pt-BR", "es", "el"]

# How each language says "parcel 1 of 2", "your whole order has arrived" and "still preparing".
PARCEL_1_OF_2 = {"en": "parcel 1 of 2", "pt-BR": "pacote 1 de 2", "es": "paquete 1 de 2", "el": "δέμα 1 από 2"}
PARCEL_2_OF_2 = {"en": "parcel 2 of 2", "pt-BR": "pacote 2 de 2", "es": "paquete 2 de 2", "el": "δέμα 2 από 2"}
ALL_DELIVERED_SUBJECT = {"en": "has been delivered: both parcels", "pt-BR": "foi entregue: ambos os pacotes",
                         "es": "ha sido entregado: los dos paquetes", "el": "παραδόθηκε: και τα δύο δέματα"}
ONE_MORE_COMING = {"en": "The other parcel is still on its way", "pt-BR": "O outro pacote ainda está a caminho",
                   "es": "El otro paquete sigue en camino", "el": "το άλλο έρχεται"}
PREPARING = {"en": "still preparing your order", "pt-BR": "ainda está sendo preparado",
             "es": "seguimos preparando tu pedido", "el": "ετοιμάζεται ακόμη"}
NEW_DATE = {"en": "new delivery date", "pt-BR": "nova data de entrega", "es": "nueva fecha de entrega",
            "el": "φτάνει πλέον"}
WINDOW = {"en": "arrives today, 2-4 PM", "pt-BR": "chega hoje, das 14h às 16h",
          "es": "llega hoy, entre las 14:00 y las 16:00", "el": "φτάνει σήμερα, μεταξύ 14:00 και 16:00"}


async def waiting_order(daemon, number: str, *, locale: str = "en", channels: str | None = None):
    """Register an order before it ships: no tracking number."""
    reg = validate(order_number=number, carrier=None, tracking_number=None, email=EMAIL, phone=PHONE, locale=locale,
                   channels=channels, known_carriers=accepted_carriers(daemon.settings), route=router(daemon.settings),
                   default_channels=daemon.settings.shop.default_channels)
    async with sessionmaker(daemon.engine)() as session, session.begin():
        order, ship, created = await register(session, reg, daemon.clock.now())
    assert ship is None and created
    return order


def bodies(tw, sg) -> tuple[list[str], list[str]]:
    return [m["Body"] for m in tw.to(PHONE)], [m["subject"] for m in sg.to(EMAIL)]


def fold(text: str) -> str:
    """Lower case without accents: SMS wording is checked whatever alphabet the SMS ends up in."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)).lower()


def has(text: str, words: str) -> bool:
    return fold(words) in fold(text)


def no_cut(texts: list[str]) -> None:
    """Nothing was shortened to fit the SMS limit (the essentials are all there)."""
    assert not [t for t in texts if "…" in t]


@pytest.mark.parametrize("locale", LOCALES)
async def test_two_parcels_say_which_parcel_and_the_order_is_delivered_once(env, fakes, clock, locale):
    tw, sg = fakes
    daemon = await env()
    start = int(clock.now().timestamp())
    first = await add(daemon, "E-MULTI", f"SBX-DELIVER-1-{start}", locale=locale)
    second = await add(daemon, "E-MULTI", f"SBX-DELIVER-2-{start + 10 * 3600}", locale=locale)
    await walk(daemon, clock, 36)  # the first parcel is delivered at hour 34, the second travels on
    sms, subjects = bodies(tw, sg)
    assert sent(await notifications(daemon.engine, first.id)) == [
        ("shipped", "sms"), ("shipped", "email"), ("out_for_delivery", "sms"), ("out_for_delivery", "email"),
        ("delivered", "sms"), ("delivered", "email")]
    delivered_note = sms[-1]
    assert has(delivered_note, PARCEL_1_OF_2[locale]) and has(delivered_note, ONE_MORE_COMING[locale])
    assert not [s for s in subjects if ALL_DELIVERED_SUBJECT[locale] in s]

    await walk(daemon, clock, 10)  # the second parcel is delivered at hour 44
    sms, subjects = bodies(tw, sg)
    assert len(sms) == 6 and len(subjects) == 6  # shipped, out for delivery, delivered: per parcel, per channel
    assert sum(has(b, PARCEL_1_OF_2[locale]) for b in sms) == 3
    assert sum(has(b, PARCEL_2_OF_2[locale]) for b in sms) == 2  # its "delivered" is the order's
    assert [s for s in subjects if ALL_DELIVERED_SUBJECT[locale] in s] == [subjects[-1]]
    assert sent(await notifications(daemon.engine, second.id))[-2:] == [("delivered", "sms"), ("delivered", "email")]
    no_cut(sms)


async def test_parcels_delivered_together_announce_the_order_once(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    start = int(clock.now().timestamp())
    a = await add(daemon, "E-PAIR", f"SBX-DELIVER-1-{start}")
    b = await add(daemon, "E-PAIR", f"SBX-DELIVER-2-{start}")
    await walk(daemon, clock, 40)
    sms, subjects = bodies(tw, sg)
    assert [s for s in sms if "delivered" in s] == [sms[-1]] and "both parcels are delivered" in sms[-1]
    assert [s for s in subjects if "delivered: both parcels" in s] == ["Your order E-PAIR has been delivered: both parcels"]
    assert not [s for s in subjects if "of your order E-PAIR has been delivered" in s]
    states = {(n.shipment_id, n.milestone, n.state) for n in await notifications(daemon.engine)
              if n.milestone == "delivered"}
    assert {s for _, _, s in states} == {"sent", "suppressed"}
    assert len(tw.to(PHONE)) == 5 and len(sg.to(EMAIL)) == 5  # 2 shipped, 2 out for delivery, 1 delivered
    assert {a.id, b.id} == {sid for sid, _, _ in states}


@pytest.mark.parametrize("locale", LOCALES)
async def test_an_order_waiting_to_ship_hears_we_are_preparing_it_once_per_period(env, fakes, clock, locale):
    tw, sg = fakes
    daemon = await env(watch={"tick_seconds": 60})
    order = await waiting_order(daemon, "E-WAIT", locale=locale)
    await walk(daemon, clock, 47)
    assert tw.to(PHONE) == [] and sg.to(EMAIL) == []
    await walk(daemon, clock, 1)  # 48 hours: the promised handling time is over
    sms, subjects = bodies(tw, sg)
    assert len(sms) == 1 and len(subjects) == 1
    # no parcel page yet: the order's own page (tracker/web/order_page.py)
    assert has(sms[0], PREPARING[locale]) and "E-WAIT" in sms[0] and f"/o/{order.public_token}" in sms[0]
    no_cut(sms)
    mail = sg.to(EMAIL)[0]
    assert "E-WAIT" in mail["subject"] and 'href=""' not in FakeSendGrid.text_of(mail, "text/html")
    assert f"/o/{order.public_token}" in FakeSendGrid.text_of(mail, "text/html")
    await walk(daemon, clock, 47)
    assert len(tw.to(PHONE)) == 1  # once per period
    await walk(daemon, clock, 1)
    assert len(tw.to(PHONE)) == 2 and len(sg.to(EMAIL)) == 2
    async with sessionmaker(daemon.engine)() as session:
        alerts = (await session.execute(select(Alert))).scalars().all()
    assert [(a.cause, a.key) for a in alerts] == [("preparing", f"order:{order.id}:preparing")]
    assert "E-WAIT" in alerts[0].message and EMAIL not in alerts[0].message

    # the first tracking number ends the watch: the next news is the normal "shipped"
    ship = await add(daemon, "E-WAIT", f"SBX-DELIVER-{int(clock.now().timestamp())}", locale=locale)
    await walk(daemon, clock, 100)
    sms, _ = bodies(tw, sg)
    assert len(sms) == 5 and not [b for b in sms[2:] if has(b, PREPARING[locale])]
    assert [m for m, c in sent(await notifications(daemon.engine, ship.id)) if c == "sms"] == [
        "shipped", "out_for_delivery", "delivered"]


async def test_a_still_preparing_message_waiting_in_the_outbox_is_dropped_once_the_parcel_is_added(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    await waiting_order(daemon, "E-RACE")
    clock.advance(timedelta(hours=48))
    await daemon.watcher.tick()  # queued, not sent yet
    await add(daemon, "E-RACE", "SBX-DELIVER-9")
    await daemon.dispatcher.tick()
    assert tw.to(PHONE) == [] and sg.to(EMAIL) == []
    notes = await notifications(daemon.engine)
    assert {(n.milestone, n.state) for n in notes} == {("preparing", "suppressed")}


@pytest.mark.parametrize("locale", LOCALES)
async def test_a_moved_delivery_date_is_told_once_and_replaces_the_apology(env, fakes, clock, locale):
    tw, sg = fakes
    daemon = await env(watch={"tick_seconds": 60})
    ship = await add(daemon, "E-MOVED", "SBX-LATE-1", locale=locale)
    await walk(daemon, clock, 100)
    milestones = [m for m, c in sent(await notifications(daemon.engine, ship.id)) if c == "sms"]
    assert milestones == ["shipped", "date_moved@2026-03-06", "out_for_delivery", "delivered"]
    sms, _ = bodies(tw, sg)
    assert has(sms[1], NEW_DATE[locale])
    # the date told is the carrier's new one, localized, and nothing was cut to fit
    assert has(sms[1], {"en": "March 6", "pt-BR": "6 de março", "es": "6 de marzo", "el": "6 Μαρτίου"}[locale])
    no_cut(sms)


@pytest.mark.parametrize("locale", LOCALES)
async def test_out_for_delivery_with_a_time_window_says_arriving_today_between(env, fakes, clock, locale):
    tw, sg = fakes
    daemon = await env()
    await add(daemon, "E-WINDOW", "SBX-WINDOW-1", locale=locale)
    await walk(daemon, clock, 36)
    sms, subjects = bodies(tw, sg)
    assert len(sms) == 3
    assert has(sms[1], WINDOW[locale])  # each locale's own clock: 2-4 PM, 14h, 14:00; never seconds
    assert {"en": "2–4 PM", "pt-BR": "das 14h às 16h"}.get(locale, "14:00") in subjects[1]
    no_cut(sms)


async def test_a_parcel_cannot_be_added_to_a_delivered_order(env, clock):
    daemon = await env()
    await add(daemon, "E-DONE", "SBX-DELIVER-1")
    await walk(daemon, clock, 36)
    with pytest.raises(InputError) as info:
        await add(daemon, "E-DONE", "SBX-DELIVER-2")
    assert info.value.field == "tracking_number" and "already delivered" in str(info.value)
    async with sessionmaker(daemon.engine)() as session:
        assert len((await session.execute(select(Notification))).scalars().all()) == 6  # nothing new written


def test_a_carrier_without_a_tracking_number_is_refused_naming_the_fix():
    with pytest.raises(InputError) as info:
        validate(order_number="E-1", carrier="ups", tracking_number="", email=EMAIL, known_carriers=["ups"])
    assert info.value.field == "tracking_number" and "leave both out" in info.value.fix


async def test_new_dates_within_the_throttle_wait_and_only_the_latest_goes_out(env, fakes, clock):
    tw, sg = fakes
    daemon = await env(watch={"date_moved_repeat_hours": 12})
    ship = await add(daemon, "E-FLIP", "SBX-SILENT-1", channels="sms")
    await walk(daemon, clock, 3)
    first = (await shipment(daemon.engine, ship.id)).first_expected_delivery

    async def carrier_says(days: int) -> None:
        async with sessionmaker(daemon.engine)() as session, session.begin():
            await session.execute(update(Shipment).where(Shipment.id == ship.id).values(
                expected_delivery=first + timedelta(days=days)))
        await daemon.watcher.tick()
        await daemon.dispatcher.tick()

    await carrier_says(1)
    assert len(tw.to(PHONE)) == 2  # shipped, then the new date
    clock.advance(timedelta(hours=1))
    await carrier_says(2)
    await carrier_says(3)
    assert len(tw.to(PHONE)) == 2  # within 12 hours of the last one: waits
    clock.advance(timedelta(hours=11))
    await carrier_says(3)
    bodies_ = [m["Body"] for m in tw.to(PHONE)]
    assert len(bodies_) == 3
    assert [n.milestone for n in await notifications(daemon.engine, ship.id) if n.state == "sent"] == [
        "shipped", f"date_moved@{first + timedelta(days=1)}", f"date_moved@{first + timedelta(days=3)}"]


async def test_still_preparing_falls_back_to_email_when_the_sms_is_refused(env, fakes, clock):
    tw, sg = fakes
    tw.refuse(PHONE, 21211)
    daemon = await env()
    await waiting_order(daemon, "E-FALL", channels="sms")
    await walk(daemon, clock, 49)
    notes = await notifications(daemon.engine)
    assert [(n.milestone, n.channel, n.state) for n in notes] == [
        ("preparing", "sms", "failed"), ("preparing", "email", "sent")]
    assert len(sg.to(EMAIL)) == 1 and notes[1].shipment_id is None


@pytest.mark.postgres
async def test_parcels_and_the_wait_before_shipping_on_postgresql(pg_url, tmp_path, start_daemon, clock):
    from tests.helpers import make_settings

    daemon = await start_daemon(make_settings(tmp_path, database_url=pg_url, watch={"tick_seconds": 60},
                                              poller={"intervals": {"in_transit": 3600, "info_received": 3600,
                                                                    "out_for_delivery": 3600}}))
    start = int(clock.now().timestamp())
    await waiting_order(daemon, "PG-WAIT")
    await add(daemon, "PG-MULTI", f"SBX-DELIVER-1-{start}", channels="email")
    await add(daemon, "PG-MULTI", f"SBX-DELIVER-2-{start + 5 * 3600}", channels="email")
    await walk(daemon, clock, 50)
    notes = await notifications(daemon.engine)
    order_level = [(n.milestone, n.channel, n.state) for n in notes if n.shipment_id is None]
    assert order_level == [("preparing", "sms", "sent"), ("preparing", "email", "sent")]
    await daemon.watcher.tick()  # a second sweep in the same period adds nothing (insert-once on PostgreSQL)
    assert len(await notifications(daemon.engine)) == len(notes)
    delivered = sorted(n.state for n in notes if n.milestone == "delivered")
    assert delivered == ["sent", "sent"]  # one per-parcel note, then the order's "delivered"


@pytest.mark.parametrize("locale,subject,sms", [
    ("en", "A problem with the delivery of parcel 2 of 2 ", ("parcel 2 of 2 of your order", "parcel 2/2 of order")),
    ("pt-BR", "Um problema na entrega do pacote 2 de 2 ", ("pacote 2 de 2 do seu pedido", "pacote 2/2 do pedido")),
    ("es", "Un problema con la entrega del paquete 2 de 2 ", ("paquete 2 de 2 de tu pedido", "paquete 2/2 del pedido")),
    ("el", "Πρόβλημα στην παράδοση του δέματος 2 από 2 ", ("δέματος 2 από 2 της παραγγελίας σας", "δέμα 2/2 της")),
])
async def test_a_problem_with_one_parcel_names_that_parcel(env, fakes, clock, locale, subject, sms):
    tw, sg = fakes
    daemon = await env()
    await add(daemon, "E-HELD", "SBX-DELIVER-1", locale=locale)
    held = await add(daemon, "E-HELD", "SBX-EXCEPTION-2", locale=locale)
    await walk(daemon, clock, 20)
    assert ("exception", "sms") in sent(await notifications(daemon.engine, held.id))
    problem = tw.to(PHONE)[-1]
    # the full SMS names the parcel in words, the short one (when the full one is over budget) as 2/2
    # the parcel is the subject of the SMS sentence, not a "(parcel 2 of 2)" tag before "order X is ..."
    assert problem["Body"].startswith("Demo Shop: ") and any(form in problem["Body"] for form in sms), problem["Body"]
    assert held.public_token in problem["Body"]
    [mail] = [m for m in sg.to(EMAIL) if m["subject"].startswith(subject)]  # the parcel, not the order, has it
    assert "SBX-EXCEPTION-2" in FakeSendGrid.text_of(mail)
    no_cut([m["Body"] for m in tw.to(PHONE)])


async def test_a_two_parcel_order_is_asked_how_it_went_once(tmp_path, start_daemon, clock):
    from tests.helpers import make_settings

    daemon = await start_daemon(make_settings(
        tmp_path, follow_up={"enabled": True, "secret": "a-long-test-signing-secret", "days_after_delivery": 3},
        poller={"intervals": {k: 3600 for k in ("pending", "info_received", "in_transit", "out_for_delivery")}}))
    start = int(clock.now().timestamp())
    first = await add(daemon, "E-ASK", f"SBX-DELIVER-1-{start}", channels="email")
    second = await add(daemon, "E-ASK", f"SBX-DELIVER-2-{start + 10 * 3600}", channels="email")
    await walk(daemon, clock, 44 + 72 + 2, step=timedelta(hours=1))
    asked = [(n.shipment_id, n.state) for n in await notifications(daemon.engine) if n.milestone == "follow_up"]
    assert asked == [(second.id, "sent")]  # about the parcel that completed the order, not one per parcel
    assert first.id != second.id


async def test_an_order_that_never_ships_has_its_contact_details_erased_in_the_end(tmp_path, start_daemon, clock):
    from tests.helpers import make_settings

    daemon = await start_daemon(make_settings(tmp_path, privacy={"erase_contact_after_days": 90}))
    order = await waiting_order(daemon, "E-NEVER")
    clock.advance(timedelta(days=119))
    await daemon.run_once()
    async with sessionmaker(daemon.engine)() as session:
        assert (await session.get(type(order), order.id)).email == EMAIL  # watched 30 days, then 90 more
    clock.advance(timedelta(days=1, hours=1))
    await daemon.run_once()
    async with sessionmaker(daemon.engine)() as session:
        row = await session.get(type(order), order.id)
    assert row.email is None and row.phone is None and row.erased_at is not None
