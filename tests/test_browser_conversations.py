"""Chromium on the console's conversation view and reply box: the customer's messages and our answers on the
order page, the open case at the top of "Needs attention", an answer typed in the box reaching the customer
once by SMS, the case closed. Screenshots in test-artifacts/ (conversation-*.png)."""

from __future__ import annotations

from tests.test_browser import ARTIFACTS, browser  # noqa: F401
from tests.test_conversations import PHONE, env, shipped, twilio_url  # noqa: F401
from tests.web_helpers import PASSWORD, SUPPORT


async def test_support_reads_the_conversation_and_answers_from_the_reply_box(browser, env, fakes, clock):  # noqa: F811
    tw, sg = fakes
    daemon = await env(**SUPPORT)
    await shipped(daemon, clock, locale="es")
    await tw.inbound(twilio_url(daemon), PHONE, "¿Dónde está mi pedido?")
    await tw.inbound(twilio_url(daemon), PHONE, "Llegó roto <b>la caja</b>, ¿qué hago?")
    await daemon.run_once()
    before = len(tw.to(PHONE))

    page = await browser.new_page(viewport={"width": 1280, "height": 1000})
    await page.goto(f"http://127.0.0.1:{daemon.port}/support")
    await page.fill("input[name=username]", "maria")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#open-cases")
    waiting = await page.inner_text("#open-cases")
    assert "ORDER-1" in waiting and "damaged" in waiting and "sms" in waiting
    await page.screenshot(path=str(ARTIFACTS / "conversation-home.png"), full_page=True)

    await page.click("#open-cases a:has-text('ORDER-1')")
    await page.wait_for_selector("#conversation .messages")
    talk = await page.inner_text("#conversation")
    assert "¿Dónde está mi pedido?" in talk and "en camino" in talk  # the question and its automatic answer
    assert "Llegó roto <b>la caja</b>" in talk  # shown as the customer wrote it, never as markup
    await page.fill("#answer", "Lo sentimos mucho. Le enviamos otro hoy mismo.")
    await page.screenshot(path=str(ARTIFACTS / "conversation-order.png"), full_page=True)
    await page.click("button:has-text('Send answer')")
    await page.wait_for_selector("[role=status]")
    assert "Answer queued" in await page.inner_text("[role=status]")
    await daemon.run_once()
    answers = [m["Body"] for m in tw.to(PHONE)[before:]]
    assert answers == ["Lo sentimos mucho. Le enviamos otro hoy mismo."]

    await page.reload()
    await page.click("button:has-text('Close case')")
    await page.wait_for_selector("[role=status]")
    assert "Case closed" in await page.inner_text("[role=status]")
    talk = await page.inner_text("#conversation")
    assert "Lo sentimos mucho" in talk and "closed" in talk
    await page.screenshot(path=str(ARTIFACTS / "conversation-answered.png"), full_page=True)
    await page.close()
