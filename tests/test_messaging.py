"""Real Twilio and SendGrid SDKs against local fakes, end to end through poller, outbox and dispatcher."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.fakes.twilio import FakeTwilio
from tests.helpers import add, notifications, sent, walk
from tests.messaging_env import messaging_settings, point_public_url

PHONE, EMAIL = "+14155550101", "ana@example.com"


@pytest.fixture
async def env(tmp_path, fakes, start_daemon, clock):
    tw, sg = fakes

    async def start(**extra):
        daemon = await start_daemon(messaging_settings(tmp_path, tw, sg, **extra), web_server=True)
        point_public_url(daemon)
        return daemon

    return start


async def test_delivery_reaches_sms_and_email_once_each(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    ship = await add(daemon, "ORDER-1", "SBX-DELIVER-1")
    await walk(daemon, clock, 40)
    assert sent(await notifications(daemon.engine, ship.id)) == [
        ("shipped", "sms"), ("shipped", "email"), ("out_for_delivery", "sms"), ("out_for_delivery", "email"),
        ("delivered", "sms"), ("delivered", "email")]
    assert len(tw.to(PHONE)) == 3 and len(sg.to(EMAIL)) == 3
    assert "ORDER-1" in tw.messages[0]["Body"] and "/t/" in tw.messages[0]["Body"]
    mail = sg.mails[0]
    assert mail["subject"] == "Your order ORDER-1 is on its way"
    assert {c["type"] for c in mail["content"]} == {"text/plain", "text/html"}
    notes = await notifications(daemon.engine, ship.id)
    assert mail["custom_args"]["notification_id"] == str(notes[1].id)


async def insert_note(daemon, ship, milestone: str, channel: str) -> None:
    from tracker.db import sessionmaker
    from tracker.models import Notification

    now = daemon.clock.now()
    async with sessionmaker(daemon.engine)() as session, session.begin():
        session.add(Notification(shipment_id=ship.id, order_id=ship.order_id, milestone=milestone, channel=channel,
                                 state="queued", next_attempt_at=now, created_at=now, updated_at=now))


async def test_every_milestone_reaches_sms_and_email_exactly_once(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    ships = {}
    for i, journey in enumerate(["DELIVER", "FAILED", "EXCEPTION", "PICKUP"]):
        ships[journey] = await add(daemon, f"ORDER-{journey}", f"SBX-{journey}-{i}",
                                   phone=f"+1415555010{i}", email=f"c{i}@example.com")
    await walk(daemon, clock, 70)
    # the watchers' milestones (delayed, silent) enter the outbox like any other
    await insert_note(daemon, ships["DELIVER"], "delayed", "sms")
    await insert_note(daemon, ships["DELIVER"], "delayed", "email")
    await insert_note(daemon, ships["EXCEPTION"], "silent", "sms")
    await insert_note(daemon, ships["EXCEPTION"], "silent", "email")
    await walk(daemon, clock, 2)

    notes = await notifications(daemon.engine)
    reached = {(n.milestone, n.channel) for n in notes if n.state == "sent"}
    for milestone in ("shipped", "out_for_delivery", "available_for_pickup", "failed_attempt", "delivered",
                      "exception", "delayed", "silent"):
        assert {(milestone, "sms"), (milestone, "email")} <= reached, milestone
    # exactly once: one provider message per sent notification, no more
    assert len(tw.messages) == sum(1 for n in notes if n.state == "sent" and n.channel == "sms")
    assert len(sg.mails) == sum(1 for n in notes if n.state == "sent" and n.channel == "email")
    assert len({m["StatusCallback"] for m in tw.messages}) == len(tw.messages)
    assert len({m["custom_args"]["notification_id"] for m in sg.mails}) == len(sg.mails)
    subjects = {m["custom_args"]["milestone"]: m["subject"] for m in sg.mails}
    assert len(set(subjects.values())) == len(subjects)  # a subject per milestone
    exception_sms = next(m["Body"] for m in tw.to("+14155550102"))
    assert "ORDER-EXCEPTION" in exception_sms


async def test_rate_limits_server_errors_and_timeouts_are_retried_to_success(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    tw.fail_next(429, code=20429, retry_after=7)
    tw.fail_next(503)
    tw.hang_next(5)
    sg.fail_next(429, reset_in=90)
    sg.fail_next(500)
    sg.hang_next(5)
    ship = await add(daemon, "ORDER-2", "SBX-DELIVER-2")
    await daemon.run_once()
    clock.advance(timedelta(hours=3))
    await daemon.run_once()
    sms, email = await notifications(daemon.engine, ship.id)
    assert sms.state == "queued" and "429" in sms.error
    assert sms.next_attempt_at == clock.now() + timedelta(seconds=7)  # Retry-After honoured
    assert email.state == "queued" and email.next_attempt_at == clock.now() + timedelta(seconds=90)  # X-RateLimit-Reset
    for _ in range(12):
        clock.advance(timedelta(minutes=10))
        await daemon.run_once()
    sms, email = await notifications(daemon.engine, ship.id)
    assert (sms.state, email.state) == ("sent", "sent")
    assert sms.attempts == 4 and email.attempts == 4
    assert len(tw.to(PHONE)) == 1 and len(sg.to(EMAIL)) == 1
    assert tw.hits == 4 and sg.hits == 4
    assert tw.lookups == 2  # after the 503 and the timeout: did that SMS reach Twilio after all? (no)


async def test_permanent_error_falls_back_to_the_other_channel_and_support_sees_it(env, fakes, clock):
    from tracker.story import order_story

    tw, sg = fakes
    daemon = await env()
    tw.refuse("+14155550199", 21211)
    ship = await add(daemon, "ORDER-3", "SBX-DELIVER-3", phone="+14155550199", channels=["sms"])
    await walk(daemon, clock, 3)
    notes = await notifications(daemon.engine, ship.id)
    assert [(n.milestone, n.channel, n.state) for n in notes] == [
        ("shipped", "sms", "failed"), ("shipped", "email", "sent")]
    assert tw.hits == 1  # never retried
    assert len(sg.to(EMAIL)) == 1
    story = await order_story(daemon.engine, "ORDER-3", daemon.settings)
    assert "failed" in story and "21211" in story


async def test_opted_out_number_is_suppressed_and_email_takes_over(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    tw.refuse(PHONE, 21610)
    ship = await add(daemon, "ORDER-4", "SBX-DELIVER-4")
    await walk(daemon, clock, 40)
    notes = await notifications(daemon.engine, ship.id)
    states = {(n.milestone, n.channel): n.state for n in notes}
    assert states[("shipped", "sms")] == "failed"
    assert states[("out_for_delivery", "sms")] == "suppressed" and states[("delivered", "sms")] == "suppressed"
    assert tw.hits == 1 and tw.messages == []
    assert len(sg.to(EMAIL)) == 3


async def test_stop_stops_further_sms_and_start_resumes(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    ship = await add(daemon, "ORDER-5", "SBX-DELIVER-5")
    await walk(daemon, clock, 3)
    assert len(tw.to(PHONE)) == 1
    url = f"{daemon.settings.server.public_url}/webhooks/twilio/inbound"
    r = await tw.inbound(url, PHONE, " stop ")
    assert r.status == 200
    await tw.inbound(url, PHONE, " stop ", sid="SM-repeat")
    await tw.inbound(url, PHONE, " stop ", sid="SM-repeat")  # Twilio retried: applied once
    await walk(daemon, clock, 29)  # out for delivery
    notes = {(n.milestone, n.channel): n for n in await notifications(daemon.engine, ship.id)}
    assert notes[("out_for_delivery", "sms")].state == "suppressed"
    assert notes[("out_for_delivery", "email")].state == "sent"
    assert len(tw.to(PHONE)) == 1
    await tw.inbound(url, PHONE, "START")
    await walk(daemon, clock, 6)  # delivered
    notes = {(n.milestone, n.channel): n for n in await notifications(daemon.engine, ship.id)}
    assert notes[("delivered", "sms")].state == "sent"
    assert len(tw.to(PHONE)) == 2


async def test_bounce_stops_further_email(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    ship = await add(daemon, "ORDER-6", "SBX-DELIVER-6")
    await walk(daemon, clock, 3)
    assert len(sg.to(EMAIL)) == 1
    url = f"{daemon.settings.server.public_url}/webhooks/sendgrid/events"
    bounce = sg.event(sg.mails[0], "bounce", reason="550 5.1.1 mailbox does not exist")
    assert (await sg.send_events(url, [bounce])).status == 204
    assert (await sg.send_events(url, [bounce])).status == 204  # SendGrid repeats: applied once
    notes = {(n.milestone, n.channel): n for n in await notifications(daemon.engine, ship.id)}
    assert notes[("shipped", "email")].state == "failed" and "bounce" in notes[("shipped", "email")].error
    await walk(daemon, clock, 35)
    notes = {(n.milestone, n.channel): n for n in await notifications(daemon.engine, ship.id)}
    assert notes[("out_for_delivery", "email")].state == "suppressed"
    assert notes[("delivered", "email")].state == "suppressed"
    assert len(sg.to(EMAIL)) == 1
    assert len(tw.to(PHONE)) == 3  # SMS carries on


async def test_delivery_reports_move_forward_only_and_once(env, fakes, clock):
    from sqlalchemy import func, select

    from tracker.db import sessionmaker
    from tracker.models import WebhookEvent

    tw, sg = fakes
    daemon = await env()
    ship = await add(daemon, "ORDER-7", "SBX-DELIVER-7")
    await walk(daemon, clock, 3)
    sms_msg, mail = tw.messages[0], sg.mails[0]
    assert (await tw.status_callback(sms_msg, "delivered")).status == 204
    assert (await tw.status_callback(sms_msg, "delivered")).status == 204  # repeated
    assert (await tw.status_callback(sms_msg, "sent")).status == 204  # late and out of order
    assert (await tw.status_callback(sms_msg, "undelivered", "30003")).status == 204  # cannot undo delivered
    events_url = f"{daemon.settings.server.public_url}/webhooks/sendgrid/events"
    assert (await sg.send_events(events_url, [sg.event(mail, "processed"), sg.event(mail, "delivered")])).status == 204
    sms, email = await notifications(daemon.engine, ship.id)
    assert (sms.state, email.state) == ("delivered", "delivered")
    assert sms.provider_id == sms_msg["sid"] and email.provider_id == mail["_message_id"]
    async with sessionmaker(daemon.engine)() as session:
        count = (await session.execute(select(func.count()).select_from(WebhookEvent))).scalar_one()
    assert count == 3  # Twilio delivered + undelivered, SendGrid delivered: the repeat is not stored twice


async def test_undelivered_sms_falls_back_to_email(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    ship = await add(daemon, "ORDER-8", "SBX-DELIVER-8", channels=["sms"])
    await walk(daemon, clock, 3)
    assert sg.mails == []
    await tw.status_callback(tw.messages[0], "undelivered", "30006")
    await walk(daemon, clock, 1)
    notes = {(n.milestone, n.channel): n for n in await notifications(daemon.engine, ship.id)}
    assert notes[("shipped", "sms")].state == "failed" and "30006" in notes[("shipped", "sms")].error
    assert notes[("shipped", "email")].state == "sent"
    assert len(sg.to(EMAIL)) == 1


async def test_tampered_or_stale_webhooks_get_403_and_change_nothing(env, fakes, clock):
    from sqlalchemy import func, select

    from tracker.db import sessionmaker
    from tracker.models import Suppression, WebhookEvent

    tw, sg = fakes
    daemon = await env()
    ship = await add(daemon, "ORDER-9", "SBX-DELIVER-9")
    await walk(daemon, clock, 3)
    base = daemon.settings.server.public_url
    before = [(n.id, n.state) for n in await notifications(daemon.engine, ship.id)]
    assert (await tw.status_callback(tw.messages[0], "failed", "30006", tamper=True)).status == 403
    assert (await tw.inbound(f"{base}/webhooks/twilio/inbound", PHONE, "STOP", tamper=True)).status == 403
    forged = FakeTwilio(auth_token="not-our-token")
    assert (await forged.inbound(f"{base}/webhooks/twilio/inbound", PHONE, "STOP")).status == 403
    events = [sg.event(sg.mails[0], "bounce")]
    url = f"{base}/webhooks/sendgrid/events"
    assert (await sg.send_events(url, events, tamper=True)).status == 403
    assert (await sg.send_events(url, events, signature="bm90IGEgc2lnbmF0dXJl")).status == 403
    assert (await sg.send_events(url, events, signature="%%%")).status == 403
    stale = int(clock.now().timestamp()) - 3600
    assert (await sg.send_events(url, events, timestamp=stale)).status == 403
    assert [(n.id, n.state) for n in await notifications(daemon.engine, ship.id)] == before
    async with sessionmaker(daemon.engine)() as session:
        for table in (WebhookEvent, Suppression):
            assert (await session.execute(select(func.count()).select_from(table))).scalar_one() == 0


async def test_messages_and_logs_never_show_full_contact_details(env, fakes, clock, caplog):
    import logging

    tw, sg = fakes
    caplog.set_level(logging.INFO)  # what a daemon logs (DEBUG belongs to libraries, e.g. SQL parameters)
    caplog.set_level(logging.DEBUG, logger="tracker")
    caplog.set_level(logging.DEBUG, logger="twilio")
    tw.refuse("+14155550177", 21610)
    daemon = await env()
    await add(daemon, "ORDER-10", "SBX-DELIVER-10", phone="+14155550177", email="zoe@example.com")
    await walk(daemon, clock, 40)
    await tw.inbound(f"{daemon.settings.server.public_url}/webhooks/twilio/inbound", "+14155550177", "START")
    assert sg.to("zoe@example.com")
    assert "+14155550177" not in caplog.text and "zoe@example.com" not in caplog.text
    assert "fake-twilio-auth-token" not in caplog.text and "SG.fake-key" not in caplog.text


async def test_messaging_service_and_api_key_credentials(env, fakes, clock):
    tw, sg = fakes
    service = "MG" + "2" * 32
    daemon = await env(providers={"twilio": {"from_number": None, "messaging_service_sid": service,
                                             "auth_token": None, "api_key": "SK" + "3" * 32,
                                             "api_secret": "key-secret"}})
    await add(daemon, "ORDER-11", "SBX-DELIVER-11")
    await walk(daemon, clock, 3)
    (msg,) = tw.messages
    assert msg["MessagingServiceSid"] == service and "From" not in msg
    assert msg["StatusCallback"].startswith(daemon.settings.server.public_url + "/webhooks/twilio/status?n=")


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_sendgrid_refusals_are_permanent_and_fall_back_to_sms(env, fakes, clock, status):
    tw, sg = fakes
    daemon = await env()
    sg.fail_next(status)
    ship = await add(daemon, "ORDER-12", "SBX-DELIVER-12", channels=["email"])
    await walk(daemon, clock, 3)
    notes = by_key_list(await notifications(daemon.engine, ship.id))
    assert notes[("shipped", "email")].state == "failed" and str(status) in notes[("shipped", "email")].error
    assert notes[("shipped", "sms")].state == "sent" and len(tw.to(PHONE)) == 1
    assert sg.hits == 1  # not retried


@pytest.mark.parametrize("code, suppressed", [(21211, False), (21614, False), (21610, True)])
async def test_twilio_refusals_are_permanent(env, fakes, clock, code, suppressed):
    from sqlalchemy import select

    from tracker.db import sessionmaker
    from tracker.models import Suppression

    tw, sg = fakes
    daemon = await env()
    tw.fail_next(400, code=code)
    ship = await add(daemon, "ORDER-13", "SBX-DELIVER-13", channels=["sms"])
    await walk(daemon, clock, 3)
    notes = by_key_list(await notifications(daemon.engine, ship.id))
    assert notes[("shipped", "sms")].state == "failed" and str(code) in notes[("shipped", "sms")].error
    assert notes[("shipped", "email")].state == "sent"
    assert tw.hits == 1
    async with sessionmaker(daemon.engine)() as session:
        rows = (await session.execute(select(Suppression.channel, Suppression.address))).all()
    assert rows == ([("sms", PHONE)] if suppressed else [])


def by_key_list(notes):
    return {(n.milestone, n.channel): n for n in notes}


@pytest.mark.parametrize("lost", ["5xx", "timeout"])
async def test_an_sms_taken_by_twilio_despite_an_error_reply_is_not_sent_twice(env, fakes, clock, lost):
    tw, sg = fakes
    daemon = await env()
    tw.lose_reply_next(500) if lost == "5xx" else tw.lose_reply_next(504, hang=5)
    ship = await add(daemon, "ORDER-14", "SBX-DELIVER-14")
    await walk(daemon, clock, 3)
    sms = by_key_list(await notifications(daemon.engine, ship.id))[("shipped", "sms")]
    assert sms.state == "sent" and sms.attempts == 2
    (only,) = tw.to(PHONE)  # the customer got it once
    assert sms.provider_id == only["sid"]


async def test_customers_get_their_own_language_with_english_as_fallback(env, fakes, clock):
    from tracker.notify import segments

    tw, sg = fakes
    daemon = await env()
    for i, locale in enumerate(["el", "pt-BR", "es-MX", "fr"]):
        await add(daemon, f"ORDER-L{i}", f"SBX-DELIVER-L{i}", locale=locale, phone=f"+1415555020{i}",
                  email=f"l{i}@example.com")
    await walk(daemon, clock, 3)
    greek_sms = tw.to("+14155550200")[0]["Body"]
    assert "παραγγελία" in greek_sms and segments.info(greek_sms).encoding == "UCS-2"
    # within Greek's own budget, the expected date kept (it used to be cut to fit two segments)
    assert segments.info(greek_sms).segments <= daemon.settings.sms.budget("el") == 3
    assert "Αναμένεται την " in greek_sms and greek_sms.endswith(tw.to("+14155550200")[0]["Body"].split()[-1])
    assert sg.to("l0@example.com")[0]["subject"] == "Η παραγγελία ORDER-L0 είναι καθ' οδόν"
    assert sg.to("l1@example.com")[0]["subject"] == "Seu pedido ORDER-L1 está a caminho"
    assert "pedido" in tw.to("+14155550201")[0]["Body"]
    assert sg.to("l2@example.com")[0]["subject"] == "Tu pedido ORDER-L2 está en camino"
    assert sg.to("l3@example.com")[0]["subject"] == "Your order ORDER-L3 is on its way"


@pytest.mark.parametrize("kind", ["dropped", "spamreport", "unsubscribe", "group_unsubscribe"])
async def test_sendgrid_suppression_events_stop_further_email(env, fakes, clock, kind):
    tw, sg = fakes
    daemon = await env()
    ship = await add(daemon, "ORDER-15", "SBX-DELIVER-15")
    await walk(daemon, clock, 3)
    url = f"{daemon.settings.server.public_url}/webhooks/sendgrid/events"
    assert (await sg.send_events(url, [sg.event(sg.mails[0], kind)])).status == 204
    await walk(daemon, clock, 35)
    notes = by_key_list(await notifications(daemon.engine, ship.id))
    assert notes[("shipped", "email")].state == "failed"
    assert notes[("delivered", "email")].state == "suppressed" and len(sg.to(EMAIL)) == 1
    assert notes[("delivered", "sms")].state == "sent"


async def test_emails_wear_the_shops_look_and_give_the_support_contact_of_the_customers_language(env, fakes, clock):
    tw, sg = fakes
    daemon = await env(
        shop={"name": "Papelaria Aurora", "sender_name": "Aurora Pedidos",
              "logo_url": "https://cdn.aurora.example/logo.png",
              "colors": {"primary": "#7a1f5c", "on_primary": "#fffaf0", "background": "#fbf7f2"},
              "support": {"pt": {"email": "suporte@aurora.example", "phone": "+55 11 3000-0000"}}},
        providers={"sendgrid": {"from_name": None}})
    await add(daemon, "PA-1", "SBX-FAILED-1", locale="pt-BR", email="bia@customer.example")
    await add(daemon, "PA-2", "SBX-DELIVER-2", locale="en", email="bo@customer.example")
    await walk(daemon, clock, 35)
    br = sg.to("bia@customer.example")
    assert br and all(m["from"] == {"email": "orders@shop.example", "name": "Aurora Pedidos"} for m in br)
    html = next(c["value"] for c in br[0]["content"] if c["type"] == "text/html")
    assert '<img src="https://cdn.aurora.example/logo.png" alt="Papelaria Aurora"' in html
    assert "background:#7a1f5c;color:#fffaf0" in html and "background:#fbf7f2" in html
    assert "mailto:suporte@aurora.example" in html and "+55 11 3000-0000" in html
    failed = next(m for m in br if "não foi entregue" in m["subject"])
    text = next(c["value"] for c in failed["content"] if c["type"] == "text/plain")
    assert "suporte@aurora.example" in text and "support@example.com" not in text
    # the carrier's English never reaches the customer: its detail kind does, in Portuguese
    assert "não conseguiu, porque não havia ninguém para receber" in text and "Delivery attempted" not in text
    assert "Delivery attempted" not in tw.to(PHONE)[-1]["Body"]
    en = sg.to("bo@customer.example")
    html = next(c["value"] for c in en[0]["content"] if c["type"] == "text/html")
    assert "mailto:support@example.com" in html and "suporte@" not in html


async def test_sms_through_twilio_keep_their_accents_and_their_essentials(env, fakes, clock):
    from tracker.notify import segments

    tw, sg = fakes
    daemon = await env()
    phones = {"es": "+14155550211", "pt-BR": "+14155550212", "el": "+14155550213"}
    es = await add(daemon, "ES-1", "SBX-FAILED-21", locale="es", phone=phones["es"], email="es@customer.example")
    await add(daemon, "BR-1", "SBX-DELIVER-22", locale="pt-BR", phone=phones["pt-BR"], email="br@customer.example")
    el = await add(daemon, "EL-1", "SBX-PICKUP-23", locale="el", phone=phones["el"], email="el@customer.example")
    await walk(daemon, clock, 40)
    bodies = {loc: [m["Body"] for m in tw.to(phone)] for loc, phone in phones.items()}
    failed = next(b for b in bodies["es"] if "podido entregar el pedido ES-1" in b)
    assert ": lo sentimos, " in failed and es.public_token in failed  # an apology, in Spanish
    assert any("Previsão de entrega: " in b for b in bodies["pt-BR"])  # not "Previsao"
    assert not any(word in b for b in bodies["pt-BR"] + bodies["es"] for word in ("Previsao", "intento ", "esta "))
    pickup = next(b for b in bodies["el"] if "ParcelShop" in b)  # ready for pickup: the place by name
    assert "ParcelShop" in pickup and "έως " in pickup and "την Σάββατο" not in pickup
    assert el.public_token in pickup and "…" not in pickup
    for loc, texts in bodies.items():
        for body in texts:
            assert segments.info(body).segments <= daemon.settings.sms.budget(loc), body
