"""Support answers customers (console reply box, API) on their channel through the outbox; cases by age and
closed by support; the conversation in `tracker status`, the API and the console; erased with the person's
data; counted in /metrics and `tracker report`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.helpers import add, metric, walk
from tests.test_conversations import EMAIL, PHONE, count, env, parse_url, rows, shipped, twilio_url  # noqa: F401
from tests.web_helpers import SUPPORT, Client, api_key, csrf_of, fetch, support_login
from tracker.models import Case, ConversationMessage, Notification
from tracker.story import order_story


async def ask_damaged(daemon, tw, sender=PHONE, text="Chegou quebrado"):
    r = await tw.inbound(twilio_url(daemon), sender, text)
    assert r.status == 200
    await daemon.run_once()


async def test_support_answers_from_the_console_once_on_sms_and_closes_the_case(env, fakes, clock):
    tw, sg = fakes
    daemon = await env(**SUPPORT)
    await shipped(daemon, clock, locale="pt-BR")
    await ask_damaged(daemon, tw)
    c = Client(daemon)
    try:
        await support_login(c)
        status, home, _ = await c.request("GET", "/support")
        assert "Customers waiting for a person" in home and "ORDER-1" in home and "damaged" in home
        status, page, _ = await c.request("GET", "/support/order", params={"number": "ORDER-1"})
        assert "Chegou quebrado" in page and "Answer the customer" in page and "Close case" in page
        before = len(tw.to(PHONE))
        clock.advance(timedelta(minutes=20))
        status, page, resp = await c.request("POST", "/support/orders/reply", data={
            "csrf": csrf_of(page), "number": "ORDER-1", "text": "Sentimos muito! Enviamos outro hoje."})
        assert status == 200 and "Answer queued" in page
        await daemon.run_once()
        await daemon.run_once()
        answers = tw.to(PHONE)[before:]
        assert [m["Body"] for m in answers] == ["Sentimos muito! Enviamos outro hoje."]
        (case,) = await rows(daemon, Case)
        assert case.first_answer_seconds == 20 * 60
        status, page, _ = await c.request("POST", f"/support/cases/{case.id}/close", data={
            "csrf": csrf_of(page), "number": "ORDER-1"})
        assert "Case closed" in page
        status, home, _ = await c.request("GET", "/support")
        assert "Customers waiting for a person" not in home
    finally:
        await c.close()
    text = await order_story(daemon.engine, "ORDER-1", daemon.settings)
    assert "Conversation:" in text and "Chegou quebrado" in text and "Sentimos muito!" in text
    assert "Case #1 (damaged)" in text and "closed" in text


async def test_support_answers_on_whatsapp_inside_the_session_as_text_and_outside_with_the_template(
        env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    await shipped(daemon, clock, locale="es", channels="whatsapp,email")
    key = await api_key(daemon)
    c = Client(daemon, key)
    try:
        await ask_damaged(daemon, tw, f"whatsapp:{PHONE}", "Llegó roto")
        status, body, _ = await c.request("POST", "/api/v1/orders/ORDER-1/reply", json={"text": "Lo sentimos, ¿foto?"})
        assert status == 202
        await daemon.run_once()
        inside = [m for m in tw.messages if m["To"] == f"whatsapp:{PHONE}" and m.get("Body") == "Lo sentimos, ¿foto?"]
        assert len(inside) == 1 and not inside[0].get("ContentSid")
        clock.advance(timedelta(hours=30))  # the session is over
        (case,) = (await c.request("GET", "/api/v1/cases"))[1]["cases"]
        status, body, _ = await c.request("POST", f"/api/v1/cases/{case['id']}/reply", json={"text": "¿Sigue ahí?"})
        assert status == 202
        await daemon.run_once()
        outside = [m for m in tw.messages if m["To"] == f"whatsapp:{PHONE}" and m.get("ContentSid")
                   and "¿Sigue ahí?" in m.get("ContentVariables", "")]
        assert len(outside) == 1
        status, body, _ = await c.request("POST", f"/api/v1/cases/{case['id']}/close")
        assert status == 200 and body["case"]["state"] == "closed"
        assert (await c.request("GET", "/api/v1/cases"))[1]["cases"] == []
        status, order, _ = await c.request("GET", "/api/v1/orders/ORDER-1")
        assert [m["from"] for m in order["conversation"]][:3] == ["customer", "auto", "support:apikey:shop"]
        assert order["cases"][0]["reason"] == "damaged" and order["cases"][0]["state"] == "closed"
    finally:
        await c.close()


async def test_support_email_answer_is_threaded_under_the_customers_message(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    await shipped(daemon, clock)
    await sg.inbound_parse(parse_url(daemon), EMAIL, "The box arrived crushed", subject="Broken box",
                           message_id="<c1@customer.example>")
    await daemon.run_once()
    c = Client(daemon, await api_key(daemon))
    try:
        status, body, _ = await c.request("POST", "/api/v1/orders/ORDER-1/reply", json={"text": "A new one is on its way."})
        assert status == 202
    finally:
        await c.close()
    await daemon.run_once()
    mail = [m for m in sg.to(EMAIL) if "A new one" in sg.text_of(m)]
    assert len(mail) == 1
    assert mail[0]["subject"] == "Re: Broken box" and mail[0]["headers"]["In-Reply-To"] == "<c1@customer.example>"
    assert "Auto-Submitted" not in mail[0]["headers"]  # a person wrote it


@pytest.mark.parametrize("payload,field", [({"text": ""}, "text"), ({"text": "x" * 2000}, "text"), ({}, "text"),
                                           ({"text": "hello"}, "conversation")])
async def test_bad_answers_are_refused_naming_the_field(env, fakes, clock, payload, field):
    tw, sg = fakes
    daemon = await env()
    await shipped(daemon, clock)
    if field == "text":
        await ask_damaged(daemon, tw)
    c = Client(daemon, await api_key(daemon))
    try:
        status, body, _ = await c.request("POST", "/api/v1/orders/ORDER-1/reply", json=payload)
    finally:
        await c.close()
    assert status == 422 and body["error"]["field"] == field
    assert await count(daemon, Notification) == len([n for n in await rows(daemon, Notification)
                                                     if not n.milestone.startswith("reply#")]) + (field == "text")


async def test_customer_text_is_escaped_in_the_console(env, fakes, clock):
    tw, sg = fakes
    daemon = await env(**SUPPORT)
    await shipped(daemon, clock)
    await ask_damaged(daemon, tw, text='<script>alert(1)</script><img src=x onerror=alert(2)> broken')
    c = Client(daemon)
    try:
        await support_login(c)
        _, page, _ = await c.request("GET", "/support/order", params={"number": "ORDER-1"})
    finally:
        await c.close()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_privacy_erase_and_the_automatic_erasure_take_the_conversation(env, fakes, clock):
    from tracker.privacy.requests import erase_people, person

    tw, sg = fakes
    daemon = await env()
    await shipped(daemon, clock)
    await ask_damaged(daemon, tw, text="Chegou quebrado, moro na Rua X 12")
    await sg.inbound_parse(parse_url(daemon), EMAIL, "where is it")
    await erase_people(daemon.engine, daemon.settings, [person(EMAIL, daemon.settings)], clock.now(), by="test")
    msgs = await rows(daemon, ConversationMessage)
    assert msgs and all(m.body == "" for m in msgs)
    text = await order_story(daemon.engine, "ORDER-1", daemon.settings)
    assert "Rua X" not in text and "+14155550101" not in text


async def test_automatic_erasure_after_delivery_takes_the_conversation_too(env, fakes, clock):
    tw, sg = fakes
    daemon = await env(privacy={"erase_contact_after_days": 1})
    await add(daemon, "ORDER-1", "SBX-DELIVER-1")
    await walk(daemon, clock, 40)
    await ask_damaged(daemon, tw, text="Chegou quebrado")
    await walk(daemon, clock, 60)
    msgs = await rows(daemon, ConversationMessage)
    assert msgs and all(m.body == "" for m in msgs)


async def test_metrics_and_report_count_replies_answers_cases(env, fakes, clock):
    from tracker.conversations.figures import load as load_conversations

    tw, sg = fakes
    daemon = await env()
    await shipped(daemon, clock)
    await tw.inbound(twilio_url(daemon), PHONE, "where is my order")
    await sg.inbound_parse(parse_url(daemon), EMAIL, "where is my order")
    await ask_damaged(daemon, tw)
    c = Client(daemon, await api_key(daemon))
    try:
        clock.advance(timedelta(minutes=5))
        await c.request("POST", "/api/v1/orders/ORDER-1/reply", json={"text": "On it."})
    finally:
        await c.close()
    _, text, _ = await fetch("GET", f"{daemon.settings.server.public_url}/metrics")
    assert metric(text, "tracker_conversation_messages_received", channel="sms") == 2
    assert metric(text, "tracker_conversation_messages_received", channel="email") == 1
    assert metric(text, "tracker_conversation_answered_automatically") == 2
    assert metric(text, "tracker_conversation_cases_opened") == 1
    assert metric(text, "tracker_conversation_cases_open") == 1
    assert metric(text, "tracker_conversation_first_human_answer_seconds_sum") == 300
    assert metric(text, "tracker_conversation_first_human_answer_seconds_count") == 1
    figures = await load_conversations(daemon.engine, clock.now() - timedelta(days=1))
    assert figures.questions == 3 and figures.answered_automatically == 2
    assert round(figures.share_without_person, 2) == 0.67
    assert "answered without a person: 2 (67%)" in figures.text()


async def test_a_pages_report_a_problem_opens_one_case_with_one_alert(env, fakes, clock):
    from tracker.conversations import CaseError, open_case_now
    from tracker.models import Alert

    tw, sg = fakes
    daemon = await env()
    ship = await shipped(daemon, clock)
    first, new = await open_case_now(daemon.engine, reason="problem", source="page", order_id=ship.order_id,
                                     shipment_id=ship.id, summary="box empty", now=clock.now())
    again, new_again = await open_case_now(daemon.engine, reason="problem", source="page", order_id=ship.order_id,
                                           shipment_id=ship.id, summary="still", now=clock.now())
    assert new and not new_again and first.id == again.id
    assert len(await rows(daemon, Alert, Alert.cause == "customer_case")) == 1
    with pytest.raises(CaseError) as bad:
        await open_case_now(daemon.engine, reason="bored", order_id=ship.order_id, now=clock.now())
    assert bad.value.field == "reason"


async def test_the_whole_conversation_on_postgresql(env, fakes, clock, pg_url):
    """Status answer, unknown sender, case with its alert, support's answer, erasure: on PostgreSQL."""
    from tracker.privacy.requests import erase_people, person

    tw, sg = fakes
    daemon = await env(database={"url": pg_url})
    await shipped(daemon, clock, locale="es")
    await tw.inbound(twilio_url(daemon), PHONE, "donde esta mi pedido")
    await tw.inbound(twilio_url(daemon), PHONE, "donde esta mi pedido")
    r = await tw.inbound(twilio_url(daemon), "+14155550199", "donde esta mi pedido ORDER-1")
    assert "ORDER-1" not in (await r.text()).split("<Message>")[1]
    await sg.inbound_parse(parse_url(daemon), EMAIL, "Llegó roto", subject="Roto", message_id="<pg1@x>")
    await sg.inbound_parse(parse_url(daemon), EMAIL, "Llegó roto", subject="Roto", message_id="<pg1@x>")
    await daemon.run_once()
    assert len([m for m in tw.to(PHONE) if "en camino" in m["Body"]]) == 2
    (case,) = await rows(daemon, Case)
    c = Client(daemon, await api_key(daemon))
    try:
        status, _, _ = await c.request("POST", f"/api/v1/cases/{case.id}/reply", json={"text": "Le enviamos otro."})
        assert status == 202
    finally:
        await c.close()
    await daemon.run_once()
    assert len([m for m in sg.to(EMAIL) if "Le enviamos otro." in sg.text_of(m)]) == 1
    await erase_people(daemon.engine, daemon.settings, [person(EMAIL, daemon.settings)], clock.now(), by="test")
    from tracker.models import Conversation

    stranger = {c.id for c in await rows(daemon, Conversation) if c.order_id is None}
    msgs = await rows(daemon, ConversationMessage)
    assert all(m.body == "" for m in msgs if m.conversation_id not in stranger)
    assert all(m.body for m in msgs if m.conversation_id in stranger)  # another person: not theirs to erase


async def test_support_answers_a_sender_matched_to_no_order(env, fakes, clock):
    tw, sg = fakes
    daemon = await env()
    stranger = "someone@elsewhere.example"
    await sg.inbound_parse(parse_url(daemon), stranger, "My box arrived crushed", subject="Crushed",
                           message_id="<s1@elsewhere.example>")
    await daemon.run_once()
    (case,) = await rows(daemon, Case)
    assert case.order_id is None and case.reason == "damaged"
    (ack,) = sg.to(stranger)  # told once that a person will answer
    c = Client(daemon, await api_key(daemon))
    try:
        status, _, _ = await c.request("POST", f"/api/v1/cases/{case.id}/reply", json={"text": "Which order is it?"})
        assert status == 202
    finally:
        await c.close()
    await daemon.run_once()
    answers = [m for m in sg.to(stranger) if "Which order is it?" in sg.text_of(m)]
    assert len(answers) == 1 and answers[0]["headers"]["In-Reply-To"] == "<s1@elsewhere.example>"
    assert "Auto-Submitted" not in answers[0]["headers"]


async def test_support_answers_a_sender_matched_to_no_order_from_the_console(env, fakes, clock):
    tw, sg = fakes
    daemon = await env(**SUPPORT)
    stranger = "someone@elsewhere.example"
    await sg.inbound_parse(parse_url(daemon), stranger, "<i>My box</i> arrived crushed", subject="Crushed")
    await daemon.run_once()
    c = Client(daemon)
    try:
        await support_login(c)
        _, home, _ = await c.request("GET", "/support")
        assert "no order matched" in home
        (case,) = await rows(daemon, Case)
        status, page, _ = await c.request("GET", f"/support/cases/{case.id}")
        assert status == 200 and "&lt;i&gt;My box&lt;/i&gt; arrived crushed" in page and "Answer the customer" in page
        status, page, resp = await c.request("POST", f"/support/cases/{case.id}/reply", data={
            "csrf": csrf_of(page), "text": "Which order number is it?"})
        assert status == 200 and "Answer queued" in page and resp.url.path == f"/support/cases/{case.id}"
        await daemon.run_once()
        assert len([m for m in sg.to(stranger) if "Which order number" in sg.text_of(m)]) == 1
        status, page, _ = await c.request("POST", f"/support/cases/{case.id}/close", data={"csrf": csrf_of(page),
                                                                                          "number": ""})
        assert "Case closed" in page
        assert (await c.request("GET", "/support/cases/99999"))[0] == 404
    finally:
        await c.close()


async def test_a_person_with_no_order_who_wrote_to_us_can_be_erased(env, fakes, clock):
    from tracker.privacy.requests import erase_people, export_person, person

    tw, sg = fakes
    daemon = await env()
    stranger = "Someone@Elsewhere.example"
    await sg.inbound_parse(parse_url(daemon), stranger, "My box arrived crushed, I live at Rua X 12")
    await daemon.run_once()
    exported = await export_person(daemon.engine, daemon.settings, person(stranger, daemon.settings), clock.now(),
                                   by="test")
    assert "Rua X 12" in str(exported.data["conversations"])
    outcome = await erase_people(daemon.engine, daemon.settings, [person(stranger, daemon.settings)], clock.now(),
                                 by="test")
    assert outcome.erased["conversations"] == 2  # their message and our answer
    assert all(m.body == "" for m in await rows(daemon, ConversationMessage))


async def test_a_conversation_matched_to_no_order_is_erased_after_the_contact_lifetime(env, fakes, clock):
    from tracker.models import Conversation

    tw, sg = fakes
    daemon = await env(privacy={"erase_contact_after_days": 2})
    await tw.inbound(twilio_url(daemon), "+14155550199", "where is my order?")  # asked for the number
    await tw.inbound(twilio_url(daemon), "+14155550188", "my box arrived broken")  # a case, left open
    await walk(daemon, clock, 24 * 3, step=timedelta(hours=1))
    convs = {c.id: c for c in await rows(daemon, Conversation)}
    erased = [c for c in convs.values() if c.erased_at is not None]
    assert len(erased) == 1 and erased[0].address is None  # the open case waits for support
    assert all(m.body == "" for m in await rows(daemon, ConversationMessage, ConversationMessage.conversation_id
                                                == erased[0].id))
