"""Customers write back (tracker/conversations/): signed inbound SMS, WhatsApp and Inbound Parse email through
the fake Twilio and SendGrid, in en, pt-BR, es and el; status questions answered at once on the same channel,
unknown senders asked for their order number and given no order data, everything else a case."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.helpers import add, deep_merge, walk
from tests.messaging_env import messaging_settings, point_public_url, template_sids, whatsapp_sections
from tracker.db import sessionmaker
from tracker.models import Alert, Case, Conversation, ConversationMessage

PHONE, EMAIL = "+14155550101", "ana@example.com"
STRANGER = "+14155550199"
REPLY_TO = "replies@reply.shop.example"


@pytest.fixture
async def env(tmp_path, fakes, start_daemon):
    tw, sg = fakes

    async def start(**extra):
        sections = deep_merge(whatsapp_sections(tw, template_sids(["shipped", "support_reply"])), {
            "conversations": {"parse_public_key": sg.public_key_b64, "reply_to": REPLY_TO},
            "shop": {"support": {"es": {"hours": "lunes a viernes 9-18"}, "el": {"hours": "Δευ-Παρ 9-17"}}}})
        daemon = await start_daemon(messaging_settings(tmp_path, tw, sg, **deep_merge(sections, extra)),
                                    web_server=True)
        point_public_url(daemon)
        return daemon

    return start


def twilio_url(daemon) -> str:
    return f"{daemon.settings.server.public_url}/webhooks/twilio/inbound"


def parse_url(daemon) -> str:
    return f"{daemon.settings.server.public_url}/webhooks/sendgrid/inbound"


async def rows(daemon, model, *where):
    async with sessionmaker(daemon.engine)() as session:
        return list((await session.execute(select(model).where(*where).order_by(model.id))).scalars())


async def count(daemon, model) -> int:
    async with sessionmaker(daemon.engine)() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def shipped(daemon, clock, number="ORDER-1", tracking="SBX-DELIVER-1", **kw):
    ship = await add(daemon, number, tracking, **kw)
    await walk(daemon, clock, 3)  # in transit
    return ship


@pytest.mark.parametrize("locale,question,step", [
    ("es", "¿Dónde está mi pedido? Me dijeron que hoy", "en camino"),
    ("es", "dnde esta mi pedio", "en camino"),  # typos, no accents
    ("pt-BR", "Cadê meu pedido??", "a caminho"),
    ("el", "Πού είναι η παραγγελία μου;", "καθ' οδόν"),
    ("en", "where is my ordr", "on its way"),
])
async def test_a_status_question_by_sms_is_answered_at_once_in_the_customers_language(env, fakes, clock, locale,
                                                                                      question, step):
    tw, sg = fakes
    daemon = await env()
    ship = await shipped(daemon, clock, locale=locale)
    before = len(tw.to(PHONE))
    r = await tw.inbound(twilio_url(daemon), PHONE, question)
    assert r.status == 200
    await daemon.run_once()
    answers = tw.to(PHONE)[before:]
    assert len(answers) == 1
    assert "ORDER-1" in answers[0]["Body"] and step in answers[0]["Body"]
    assert f"/t/{ship.public_token}" in answers[0]["Body"]
    msgs = await rows(daemon, ConversationMessage)
    assert [(m.direction, m.author, m.kind) for m in msgs] == [("in", "customer", "where"), ("out", "auto", "status")]
    assert msgs[0].body == question and msgs[0].answered


async def test_a_whatsapp_question_is_answered_on_whatsapp_as_free_text(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    await shipped(daemon, clock, locale="pt-BR", channels="whatsapp,email")
    await tw.inbound(twilio_url(daemon), f"whatsapp:{PHONE}", "onde esta meu pedido ORDER-1?")
    await daemon.run_once()
    wa = [m for m in tw.messages if m["To"] == f"whatsapp:{PHONE}" and not m.get("ContentSid")]
    assert len(wa) == 1 and "ORDER-1" in wa[0]["Body"] and "a caminho" in wa[0]["Body"]


async def test_an_email_question_is_answered_by_email_threaded_under_it(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    await shipped(daemon, clock, locale="el")
    before = len(sg.to(EMAIL))
    assert sg.to(EMAIL)[0]["reply_to"]["email"] == REPLY_TO  # every email: replies come to tracker
    r = await sg.inbound_parse(parse_url(daemon), f"Άννα <{EMAIL}>", "Πότε θα έρθει;\n\n> Στις 2/3 γράψατε:\n> ...",
                               subject="Re: Η παραγγελία σας", message_id="<m1@customer.example>")
    assert r.status == 200
    await daemon.run_once()
    mails = sg.to(EMAIL)[before:]
    assert len(mails) == 1
    mail = mails[0]
    assert "ORDER-1" in sg.text_of(mail) and "καθ' οδόν" in sg.text_of(mail)
    assert mail["subject"] == "Re: Η παραγγελία σας"
    assert mail["headers"]["In-Reply-To"] == "<m1@customer.example>"
    assert mail["headers"]["References"] == "<m1@customer.example>"
    assert mail["headers"]["Auto-Submitted"] == "auto-replied"
    inbound = (await rows(daemon, ConversationMessage))[0]
    assert inbound.body == "Πότε θα έρθει;"  # the quoted message is not kept


async def test_several_open_orders_get_a_short_list(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    await add(daemon, "ORDER-1", "SBX-DELIVER-1", locale="es")
    await add(daemon, "ORDER-2", "SBX-DELIVER-2", locale="es")
    await walk(daemon, clock, 3)
    before = len(tw.to(PHONE))
    await tw.inbound(twilio_url(daemon), PHONE, "donde estan mis pedidos")
    await daemon.run_once()
    (answer,) = tw.to(PHONE)[before:]
    assert "sus pedidos" in answer["Body"] and "ORDER-1" in answer["Body"] and "ORDER-2" in answer["Body"]


@pytest.mark.parametrize("text", ["¿Dónde está mi pedido?", "Where is my order ORDER-1?",
                                  "Πού είναι η ORDER-1; email other@example.com"])
async def test_an_unknown_sender_is_asked_for_the_order_number_and_given_no_order_data(env, fakes, clock, text):
    tw, sg = fakes
    daemon = await env()
    await shipped(daemon, clock)
    before = len(tw.messages)
    r = await tw.inbound(twilio_url(daemon), STRANGER, text)
    body = await r.text()
    assert r.status == 200 and "<Message>" in body
    assert "ORDER-1" not in body.split("<Message>")[1] and "/t/" not in body
    assert "order number" in body or "número" in body or "αριθμό" in body
    await daemon.run_once()
    assert len(tw.messages) == before  # nothing through the outbox: there is no order to send about
    msgs = await rows(daemon, ConversationMessage)
    assert msgs[0].order_id is None and msgs[1].kind == "ask"


async def test_an_unknown_sender_giving_the_order_number_and_its_email_is_answered(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    await shipped(daemon, clock)
    r = await tw.inbound(twilio_url(daemon), STRANGER, "Where is order ORDER-1? my email is Ana@Example.com")
    assert "<Message>" not in await r.text()
    await daemon.run_once()
    (answer,) = tw.to(STRANGER)
    assert "ORDER-1" in answer["Body"] and "on its way" in answer["Body"]


@pytest.mark.parametrize("sign", ["tampered", "unsigned", "stale"])
async def test_unsigned_or_tampered_inbound_gets_403_and_nothing_is_stored(env, fakes, clock, sign):
    tw, sg = fakes
    daemon = await env()
    await shipped(daemon, clock)
    if sign == "tampered":
        r1 = await tw.inbound(twilio_url(daemon), PHONE, "where is my order", tamper=True)
        r2 = await sg.inbound_parse(parse_url(daemon), EMAIL, "where is my order", tamper=True)
    elif sign == "unsigned":
        from tests.fakes.twilio import FakeTwilio
        async with FakeTwilio(auth_token="not-ours") as forged:
            r1 = await forged.inbound(twilio_url(daemon), PHONE, "where is my order")
        r2 = await sg.inbound_parse(parse_url(daemon), EMAIL, "where is my order", signed=False)
    else:
        r1 = await tw.inbound(twilio_url(daemon), PHONE, "where is my order", tamper=True)
        r2 = await sg.inbound_parse(parse_url(daemon), EMAIL, "where is my order",
                                    timestamp=int(clock.now().timestamp()) - 3600)
    assert (r1.status, r2.status) == (403, 403)
    assert await count(daemon, ConversationMessage) == 0 and await count(daemon, Conversation) == 0


async def test_not_received_after_delivered_opens_one_case_one_alert_and_tells_the_customer_once(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    ship = await add(daemon, "ORDER-1", "SBX-DELIVER-1", locale="el")
    await walk(daemon, clock, 40)  # delivered
    before = len(tw.to(PHONE))
    await tw.inbound(twilio_url(daemon), PHONE, "Δεν το παρέλαβα αλλά λέει παραδόθηκε")
    await tw.inbound(twilio_url(daemon), PHONE, "Γιατί δεν απαντάτε;")
    await daemon.run_once()
    (case,) = await rows(daemon, Case)
    assert (case.reason, case.state, case.shipment_id, case.order_id) == ("not_received", "open", ship.id,
                                                                          ship.order_id)
    alerts = await rows(daemon, Alert, Alert.cause == "customer_case")
    assert len(alerts) == 1 and "ORDER-1" in alerts[0].message
    told = tw.to(PHONE)[before:]
    assert len(told) == 1 and "Δευ-Παρ 9-17" in told[0]["Body"] and "ORDER-1" in told[0]["Body"]


@pytest.mark.parametrize("text,reason", [("Chegou quebrado", "damaged"), ("I got the wrong size", "wrong_item"),
                                         ("Quiero cancelar mi pedido", "cancel"),
                                         ("Please change my address", "address_change"),
                                         ("Blue elephants dance at noon", "unknown")])
async def test_everything_else_goes_to_a_person(env, fakes, clock, text, reason):
    tw, sg = fakes
    daemon = await env()
    await shipped(daemon, clock)
    await tw.inbound(twilio_url(daemon), PHONE, text)
    await daemon.run_once()
    (case,) = await rows(daemon, Case)
    assert case.reason == reason and case.shipment_id is None


async def test_auto_replies_and_floods_are_not_answered_in_a_loop(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    await shipped(daemon, clock)
    mails, texts = len(sg.mails), len(tw.messages)
    await sg.inbound_parse(parse_url(daemon), EMAIL, "I am out of the office until Monday. Where is...",
                           subject="Automatic reply: your order", headers={"Auto-Submitted": "auto-replied"})
    await sg.inbound_parse(parse_url(daemon), EMAIL, "where is my order", headers={"Precedence": "bulk"})
    await sg.inbound_parse(parse_url(daemon), EMAIL, "Estoy fuera de la oficina", subject="Hola")
    for _ in range(10):
        await tw.inbound(twilio_url(daemon), PHONE, "where is my order?")
    await tw.inbound(twilio_url(daemon), "+15005550006", "where is my order?")  # the shop's own number
    await daemon.run_once()
    assert len(sg.mails) == mails
    assert len(tw.messages) - texts == daemon.settings.conversations.auto_answers_per_hour
    kinds = [m.kind for m in await rows(daemon, ConversationMessage, ConversationMessage.direction == "in")]
    assert kinds[:3] == ["auto_reply"] * 3 and kinds.count("limited") == 7 and kinds[-1] == "own_address"
    clock.advance(timedelta(hours=1, minutes=1))
    await tw.inbound(twilio_url(daemon), PHONE, "where is my order?")
    await daemon.run_once()
    assert len(tw.messages) - texts == daemon.settings.conversations.auto_answers_per_hour + 1


async def test_stop_in_any_language_takes_precedence_and_a_suppressed_number_is_recorded_not_answered(
        env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    await shipped(daemon, clock, locale="es")
    before = len(tw.to(PHONE))
    await tw.inbound(twilio_url(daemon), PHONE, "BAJA")
    await tw.inbound(twilio_url(daemon), PHONE, "¿dónde está mi pedido?")
    await daemon.run_once()
    assert len(tw.to(PHONE)) == before
    kinds = [m.kind for m in await rows(daemon, ConversationMessage)]
    assert kinds == ["stop", "suppressed"]
    await tw.inbound(twilio_url(daemon), PHONE, "ALTA")
    await tw.inbound(twilio_url(daemon), PHONE, "¿dónde está mi pedido?")
    await daemon.run_once()
    assert len(tw.to(PHONE)) == before + 1


@pytest.mark.parametrize("body", ["", "\x00\x01\x02\x1b[31m rm -rf /", "x" * 100_000, "\ud7ff\u202e<script>",
                                  "こんにちは、荷物はどこですか"])
async def test_bad_bodies_are_recorded_safely(env, fakes, clock, body):
    tw, sg = fakes
    daemon = await env()
    await shipped(daemon, clock)
    r = await tw.inbound(twilio_url(daemon), PHONE, body)
    assert r.status == 200
    r = await sg.inbound_parse(parse_url(daemon), EMAIL, body)
    assert r.status == 200
    for m in await rows(daemon, ConversationMessage, ConversationMessage.direction == "in"):
        assert len(m.body) <= daemon.settings.conversations.max_text_chars
        assert not any(ord(ch) < 32 and ch not in "\n\t" for ch in m.body) and "\u202e" not in m.body


async def test_an_email_with_attachments_only_is_recorded_for_support(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    await shipped(daemon, clock)
    r = await sg.inbound_parse(parse_url(daemon), EMAIL, None, subject="", attachments=2)
    assert r.status == 200
    (m, told) = await rows(daemon, ConversationMessage)
    assert m.kind == "unknown" and m.order_id is not None and m.body == "" and told.kind == "case_ack"
    (case,) = await rows(daemon, Case)
    assert "2 attachments" in case.summary  # a person looks; the files themselves are not kept
    r = await sg.inbound_parse(parse_url(daemon), EMAIL, "again", message_id="<same@x>")
    r = await sg.inbound_parse(parse_url(daemon), EMAIL, "again", message_id="<same@x>")  # SendGrid retried
    assert r.status == 200 and await count(daemon, ConversationMessage) == 3  # once, in the open case


async def test_a_shop_extends_the_keyword_tables_and_replaces_texts(env, fakes, clock, tmp_path):
    tw, sg = fakes
    folder = tmp_path / "keywords"
    folder.mkdir()
    (folder / "es.yaml").write_text('intents:\n  where: ["y lo mio que"]\ntexts:\n'
                                    '  status_one: "{shop} le informa: {number} {step}{expected}. {link}"\n')
    daemon = await env(conversations={"keywords_dir": str(folder)})
    await shipped(daemon, clock, locale="es")
    before = len(tw.to(PHONE))
    await tw.inbound(twilio_url(daemon), PHONE, "Y lo mío qué??")
    await daemon.run_once()
    (answer,) = tw.to(PHONE)[before:]
    assert answer["Body"].startswith("Demo Shop le informa: ORDER-1 en camino")


def test_a_broken_keyword_file_is_refused_by_config_check_naming_the_key(tmp_path, capsys):
    from tracker.cli import main

    folder = tmp_path / "keywords"
    folder.mkdir()
    (folder / "es.yaml").write_text("intents: [unclosed\n")
    (folder / "fr.yaml").write_text("{}\n")
    path = tmp_path / "config.yaml"
    path.write_text(f"database:\n  url: sqlite:///{tmp_path / 't.db'}\nconversations:\n  keywords_dir: keywords\n")
    assert main(["--config", str(path), "config", "check"]) != 0
    err = capsys.readouterr().err
    assert "conversations.keywords_dir: es.yaml" in err and "fr.yaml is not one of" in err and "Fix:" in err


async def test_an_unknown_email_sender_is_asked_by_email_once_and_given_no_order_data(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    await shipped(daemon, clock)
    stranger = "someone@elsewhere.example"
    r = await sg.inbound_parse(parse_url(daemon), stranger, "Where is my order ORDER-1?", subject="Order",
                               message_id="<u1@elsewhere.example>")
    assert r.status == 200
    await daemon.run_once()
    await daemon.run_once()
    (mail,) = sg.to(stranger)
    text = sg.text_of(mail)
    assert "order number" in text and "ORDER-1" not in text and "/t/" not in text
    assert mail["subject"] == "Re: Order" and mail["headers"]["In-Reply-To"] == "<u1@elsewhere.example>"
    assert mail["headers"]["Auto-Submitted"] == "auto-replied" and mail["reply_to"]["email"] == REPLY_TO
    out = (await rows(daemon, ConversationMessage, ConversationMessage.direction == "out"))[0]
    assert (out.state, out.attempts, out.order_id) == ("sent", 1, None)


async def test_an_answer_without_an_order_that_may_have_gone_out_is_not_sent_twice(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    sg.lose_reply_next(500)  # SendGrid takes it but answers 500: it may have gone out
    await sg.inbound_parse(parse_url(daemon), "someone@elsewhere.example", "where is my parcel")
    for _ in range(3):
        await daemon.run_once()
        clock.advance(timedelta(minutes=10))
    assert len(sg.to("someone@elsewhere.example")) == 1
    out = (await rows(daemon, ConversationMessage, ConversationMessage.direction == "out"))[0]
    assert out.state == "failed" and "not sent again" in out.error


async def test_a_long_list_by_sms_keeps_to_the_languages_segment_budget(env, fakes, clock):
    from tracker.notify.segments import info

    tw, sg = fakes
    daemon = await env()
    for i in range(1, 6):
        await add(daemon, f"ORDER-{i}", f"SBX-DELIVER-{i}", locale="el")
    await walk(daemon, clock, 3)
    before = len(tw.to(PHONE))
    await tw.inbound(twilio_url(daemon), PHONE, "πού είναι οι παραγγελίες μου")
    await daemon.run_once()
    (answer,) = tw.to(PHONE)[before:]
    assert info(answer["Body"]).segments <= daemon.settings.sms.budget("el")
    assert "ORDER-5" in answer["Body"]  # the newest order first
