"""WhatsApp through the real twilio SDK against the fake Twilio speaking the WhatsApp form: templates
outside the 24-hour session, free text inside it, fallback WhatsApp -> SMS -> email, STOP in the
customer's language, delivery reports, and config errors naming the key."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.helpers import add, deep_merge, notifications, sent, walk
from tests.messaging_env import (
    FROM_NUMBER,
    LOCALES,
    WHATSAPP_FROM,
    messaging_settings,
    point_public_url,
    template_sids,
    whatsapp_sections,
)
from tracker.status import Milestone

PHONE, EMAIL = "+14155550101", "ana@example.com"
WA = f"whatsapp:{PHONE}"
ALL = [m.value for m in Milestone]


@pytest.fixture
async def env(tmp_path, fakes, start_daemon):
    tw, sg = fakes

    async def start(templates=None, **extra):
        templates = template_sids(ALL) if templates is None else templates
        sections = deep_merge(whatsapp_sections(tw, templates), extra)
        daemon = await start_daemon(messaging_settings(tmp_path, tw, sg, **sections), web_server=True)
        point_public_url(daemon)
        return daemon

    return start


def inbound_url(daemon) -> str:
    return f"{daemon.settings.server.public_url}/webhooks/twilio/inbound"


@pytest.mark.parametrize("locale", LOCALES)
async def test_whatsapp_first_order_gets_each_milestone_as_its_languages_template_and_by_email(
        env, fakes, clock, locale):
    tw, sg = fakes
    templates = template_sids(ALL)
    daemon = await env(templates)
    ship = await add(daemon, "ORDER-W1", "SBX-DELIVER-1", channels="whatsapp,email", locale=locale)
    await walk(daemon, clock, 40)
    assert sent(await notifications(daemon.engine, ship.id)) == [
        ("shipped", "whatsapp"), ("shipped", "email"), ("out_for_delivery", "whatsapp"),
        ("out_for_delivery", "email"), ("delivered", "whatsapp"), ("delivered", "email")]
    assert tw.to(PHONE) == []  # no SMS
    got = tw.to(WA)
    assert [m["ContentSid"] for m in got] == [templates[m][locale] for m in ("shipped", "out_for_delivery", "delivered")]
    for m in got:
        assert m["From"] == f"whatsapp:{WHATSAPP_FROM}" and "Body" not in m
        variables = json.loads(m["ContentVariables"])
        assert variables["1"] == "ORDER-W1" and variables["4"].startswith(daemon.settings.server.public_url + "/t/")
        assert variables["5"] == daemon.settings.shop.name
    assert len(sg.to(EMAIL)) == 3


async def test_inside_the_24_hour_session_free_text_goes_out_and_after_it_a_template_again(env, fakes, clock):
    tw, _sg = fakes
    daemon = await env(conversations={"enabled": False})  # the question's own answer: tests/test_conversations.py
    ship = await add(daemon, "ORDER-W2", "SBX-DELIVER-2", channels="whatsapp", locale="es")
    r = await tw.inbound(inbound_url(daemon), WA, "¿Cuándo llega mi pedido?", to=f"whatsapp:{WHATSAPP_FROM}")
    assert r.status == 200
    await daemon.run_once()
    clock.advance(timedelta(hours=3))
    await daemon.run_once()
    first = tw.to(WA)[0]
    assert "ContentSid" not in first and "ORDER-W2" in first["Body"] and "/t/" in first["Body"]
    assert "está" in first["Body"] or "pedido" in first["Body"]  # the Spanish text, accents kept
    clock.advance(timedelta(hours=30))  # the session is over
    await walk(daemon, clock, 20)
    later = tw.to(WA)[1:]
    assert later and all(m.get("ContentSid") and "Body" not in m for m in later)
    await tw.report_fates()
    assert sent(await notifications(daemon.engine, ship.id))[0] == ("shipped", "whatsapp")
    assert all(n.channel == "whatsapp" for n in await notifications(daemon.engine, ship.id))


async def test_a_missing_template_falls_back_to_sms_never_to_silence(env, fakes, clock):
    tw, _sg = fakes
    templates = template_sids(ALL)
    del templates["shipped"]["el"]
    daemon = await env(templates)
    ship = await add(daemon, "ORDER-W3", "SBX-DELIVER-3", channels="whatsapp,email", locale="el")
    await walk(daemon, clock, 6)
    notes = {(n.milestone, n.channel): n for n in await notifications(daemon.engine, ship.id)}
    wa = notes[("shipped", "whatsapp")]
    assert wa.state == "failed"
    assert "no WhatsApp template for shipped in el" in wa.error
    assert "providers.twilio_whatsapp.templates.shipped.el" in wa.error
    assert notes[("shipped", "sms")].state == "sent" and notes[("shipped", "email")].state == "sent"
    sms = tw.to(PHONE)
    assert len(sms) == 1 and "ORDER-W3" in sms[0]["Body"] and sms[0]["From"] == FROM_NUMBER
    assert tw.to(WA) == []


async def test_whatsapp_only_order_falls_back_to_sms_then_email(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    tw.refuse(WA, 63003)  # not on WhatsApp
    tw.refuse(PHONE, 21614)  # and the number cannot receive SMS
    ship = await add(daemon, "ORDER-W4", "SBX-DELIVER-4", channels="whatsapp")
    await walk(daemon, clock, 6)
    notes = {(n.milestone, n.channel): n for n in await notifications(daemon.engine, ship.id)}
    assert notes[("shipped", "whatsapp")].state == "failed" and "63003" in notes[("shipped", "whatsapp")].error
    assert notes[("shipped", "sms")].state == "failed" and "21614" in notes[("shipped", "sms")].error
    assert notes[("shipped", "email")].state == "sent"
    assert len(sg.to(EMAIL)) == 1
    # not on WhatsApp: later news does not try WhatsApp again
    await walk(daemon, clock, 30)
    notes = {(n.milestone, n.channel): n for n in await notifications(daemon.engine, ship.id)}
    assert notes[("delivered", "whatsapp")].state == "suppressed"


async def test_stop_in_the_customers_language_stops_whatsapp_and_start_resumes_it(env, fakes, clock):
    from tracker.story import order_story

    tw, _sg = fakes
    daemon = await env()
    ship = await add(daemon, "ORDER-W5", "SBX-DELIVER-5", channels="whatsapp", locale="es")
    r = await tw.inbound(inbound_url(daemon), WA, "Baja")
    assert r.status == 200
    await walk(daemon, clock, 6)
    notes = {(n.milestone, n.channel): n for n in await notifications(daemon.engine, ship.id)}
    assert notes[("shipped", "whatsapp")].state == "suppressed"
    assert tw.to(WA) == []
    assert ("shipped", "sms") not in notes  # an opt-out is a choice, not a failure: no other channel is forced on
    r = await tw.inbound(inbound_url(daemon), WA, "ALTA")
    await walk(daemon, clock, 30)
    assert tw.to(WA)  # later news reaches WhatsApp again
    story = await order_story(daemon.engine, "ORDER-W5", daemon.settings)
    assert "opted out of WhatsApp (replied BAJA)" in story and "opted back in to WhatsApp (replied ALTA)" in story


async def test_whatsapp_delivery_reports_and_a_63016_refusal_fall_back_to_sms(env, fakes, clock):
    from tracker.db import sessionmaker
    from tracker.models import WhatsAppSession

    tw, _sg = fakes
    daemon = await env()
    ship = await add(daemon, "ORDER-W6", "SBX-DELIVER-6", channels="whatsapp")
    # We believe the customer wrote an hour ago, but WhatsApp's window is already closed (clock skew, a
    # message WhatsApp never counted): the free text is taken, then refused with 63016.
    async with sessionmaker(daemon.engine)() as session, session.begin():
        session.add(WhatsAppSession(phone=PHONE, last_inbound_at=clock.now()))
    await daemon.run_once()
    clock.advance(timedelta(hours=3))
    await daemon.run_once()
    assert tw.to(WA)[0].get("Body")
    await tw.report_fates()
    await daemon.run_once()
    notes = {(n.milestone, n.channel): n for n in await notifications(daemon.engine, ship.id)}
    assert notes[("shipped", "whatsapp")].state == "failed" and "63016" in notes[("shipped", "whatsapp")].error
    assert notes[("shipped", "sms")].state == "sent"
    # a template message reported delivered
    clock.advance(timedelta(days=2))
    await walk(daemon, clock, 10)
    template_msg = next(m for m in tw.to(WA) if m.get("ContentSid"))
    r = await tw.status_callback(template_msg, "delivered")
    assert r.status == 204
    assert any(n.state == "delivered" and n.channel == "whatsapp" for n in await notifications(daemon.engine, ship.id))


async def test_logs_never_show_the_whatsapp_number(env, fakes, clock, caplog):
    tw, _sg = fakes
    daemon = await env()
    tw.refuse(WA, 63024)
    caplog.set_level("INFO")  # what a daemon logs (DEBUG belongs to libraries, e.g. SQL parameters)
    caplog.set_level("DEBUG", logger="tracker")
    caplog.set_level("DEBUG", logger="twilio")
    await add(daemon, "ORDER-W7", "SBX-DELIVER-7", channels="whatsapp")
    await tw.inbound(inbound_url(daemon), WA, "PARAR")
    await walk(daemon, clock, 6)
    assert "WhatsApp" in caplog.text or "whatsapp" in caplog.text
    assert PHONE not in caplog.text and PHONE[1:] not in caplog.text


@pytest.mark.parametrize("provider, error", [
    ({"templates": {"shipped": {"en": "HX123"}}}, "providers.twilio_whatsapp.templates"),
    ({"from_number": "4155238886"}, "providers.twilio_whatsapp.from_number"),
])
def test_bad_whatsapp_settings_are_refused_at_start_naming_the_key(tmp_path, provider, error):
    from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN
    from tests.helpers import make_settings
    from tracker.config import ConfigError

    raw = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": WHATSAPP_FROM, **provider}
    with pytest.raises(ConfigError) as exc:
        make_settings(tmp_path, channels={"whatsapp": {"provider": "twilio_whatsapp"}},
                      providers={"twilio_whatsapp": raw})
    assert error in str(exc.value) and "Fix" in str(exc.value)


def test_whatsapp_needs_a_provider_that_sends_whatsapp(tmp_path):
    from tests.helpers import make_settings
    from tracker.config import ConfigError

    with pytest.raises(ConfigError) as exc:
        make_settings(tmp_path, channels={"whatsapp": {"provider": "sendgrid"}},
                      providers={"console": {}, "sendgrid": {"api_key": "SG.x", "from_email": "o@shop.example"}})
    assert "channels.whatsapp.provider" in str(exc.value) and "twilio_whatsapp" in str(exc.value)


def test_config_check_names_each_missing_template(tmp_path, capsys):
    import yaml

    from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN
    from tracker.cli import main

    templates = template_sids(ALL)
    del templates["shipped"]["el"], templates["delivered"]["es"], templates["delivered"]["pt-BR"]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "database": {"url": f"sqlite:///{tmp_path / 't.db'}"},
        "server": {"public_url": "https://track.shop.example"},  # the real Twilio: links need https://
        "channels": {"whatsapp": {"provider": "twilio_whatsapp"}},
        "providers": {"console": {}, "twilio_whatsapp": {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
                                                         "from_number": WHATSAPP_FROM, "templates": templates}}}))
    assert main(["--config", str(path), "config", "check"]) == 0
    out = capsys.readouterr().out
    assert "whatsapp via twilio_whatsapp" in out
    warnings = [line for line in out.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 3
    assert any("no WhatsApp template for support_reply in el, en, es, pt-BR" in w for w in warnings)  # conversations
    assert any("no WhatsApp template for shipped in el" in w for w in warnings)
    assert any("no WhatsApp template for delivered in es, pt-BR" in w for w in warnings)
    assert all("providers.twilio_whatsapp.templates" in w and "Fix:" in w for w in warnings)


async def test_a_whatsapp_customer_switches_to_sms_on_the_preferences_form(env, fakes, clock):
    from tests.web_helpers import fetch, hidden, preferences_link
    from tracker.story import order_story

    tw, sg = fakes
    daemon = await env()
    ship = await add(daemon, "ORDER-W8", "SBX-DELIVER-8", channels="whatsapp,email", locale="pt-BR")
    await daemon.run_once()
    clock.advance(timedelta(hours=3))
    await daemon.run_once()
    assert len(tw.to(WA)) == 1 and tw.to(PHONE) == []
    link = await preferences_link(daemon, ship)
    _, page, _ = await fetch("GET", link)
    assert 'value="whatsapp" checked' in page and 'value="sms" checked' not in page
    status, _, _ = await fetch("POST", link.split("?")[0], data={**hidden(page), "channel": ["sms", "email"],
                                                              "language": "pt-BR"})
    assert status == 200
    await walk(daemon, clock, 40)
    assert len(tw.to(WA)) == 1  # WhatsApp opted out: nothing more there
    assert len(tw.to(PHONE)) == 2 and len(sg.to(EMAIL)) == 3  # the later news by SMS, and every email
    story = await order_story(daemon.engine, "ORDER-W8", daemon.settings)
    assert "preferences page: opted out of WhatsApp; channels whatsapp,email -> sms,email" in story


async def test_saving_the_form_unchanged_opts_out_of_nothing_it_never_had(env, fakes, clock):
    from tests.web_helpers import fetch, hidden, preferences_link
    from tracker.story import order_story

    tw, _ = fakes
    daemon = await env()
    ship = await add(daemon, "ORDER-W9", "SBX-DELIVER-9", channels="whatsapp,email", locale="es")
    link = await preferences_link(daemon, ship)
    _, page, _ = await fetch("GET", link)
    status, _, _ = await fetch("POST", link.split("?")[0], data={**hidden(page), "channel": ["whatsapp", "email"],
                                                              "language": "el"})
    assert status == 200
    story = await order_story(daemon.engine, "ORDER-W9", daemon.settings)
    assert "preferences page: language es -> el" in story and "opted out" not in story
    tw.refuse(WA, 63003)  # and SMS still takes over when WhatsApp cannot
    await walk(daemon, clock, 6)
    assert len(tw.to(PHONE)) == 1


async def test_a_whatsapp_session_and_its_phone_number_are_forgotten_once_over(env, fakes, clock):
    from sqlalchemy import select

    from tracker.db import sessionmaker
    from tracker.models import WhatsAppSession

    tw, _ = fakes
    daemon = await env()
    await tw.inbound(inbound_url(daemon), WA, "Olá")

    async def phones():
        async with sessionmaker(daemon.engine)() as session:
            return list((await session.execute(select(WhatsAppSession.phone))).scalars())

    await daemon.run_once()
    assert await phones() == [PHONE]
    clock.advance(timedelta(hours=25))
    await daemon.run_once()
    assert await phones() == []


async def test_whatsapp_waits_out_the_customers_night_like_sms(env, fakes, clock):
    tw, _ = fakes
    daemon = await env(quiet_hours={"enabled": True, "start": "21:00", "end": "08:00"})
    # 14:00 UTC is 23:00 in Tokyo
    ship = await add(daemon, "ORDER-W10", "SBX-DELIVER-10", channels="whatsapp", timezone="Asia/Tokyo")
    await daemon.run_once()
    clock.advance(timedelta(hours=3))  # 02:00 in Tokyo
    await daemon.run_once()
    note = (await notifications(daemon.engine, ship.id))[0]
    assert note.state == "deferred" and "quiet hours" in note.error and tw.to(WA) == []
    clock.advance(timedelta(hours=7))  # 09:00 in Tokyo
    await daemon.run_once()
    assert len(tw.to(WA)) >= 1


def test_an_order_asking_for_whatsapp_needs_a_phone():
    from tracker.orders import InputError, merge, validate

    common = dict(order_number="ORDER-1", carrier="sandbox", tracking_number="SBX-DELIVER-1",
                  known_carriers=["sandbox"])
    reg = validate(**common, phone="+14155550101", email="ana@example.com", channels="whatsapp,email")
    assert reg.channels == ("whatsapp", "email")
    with pytest.raises(InputError) as exc:  # checked against the order as it would be (here a new one)
        merge(validate(**common, email="ana@example.com", channels="whatsapp,email"), None)
    assert exc.value.field == "phone" and "whatsapp" in str(exc.value)
    with pytest.raises(InputError) as exc:
        validate(**common, email="ana@example.com", channels="telegram")
    assert exc.value.field == "channels" and "whatsapp" in exc.value.fix


@pytest.mark.parametrize("word", ["Διαγραφή", "parar", "Sair!", "STOP"])
async def test_opt_out_words_count_whatever_their_case_and_accents(env, fakes, clock, word):
    tw, _ = fakes
    daemon = await env()
    ship = await add(daemon, "ORDER-W11", "SBX-DELIVER-11", channels="whatsapp", locale="el")
    await tw.inbound(inbound_url(daemon), WA, word)
    await walk(daemon, clock, 6)
    assert (await notifications(daemon.engine, ship.id))[0].state == "suppressed" and tw.to(WA) == []
