"""A real browser on the customer's preferences form: from the tracking page's link, untick SMS,
choose Spanish, save; the form comes back in Spanish with SMS off, and the next messages follow it."""

from __future__ import annotations

from datetime import timedelta

from tests import test_browser
from tests.helpers import add, walk
from tests.messaging_env import fake_providers, messaging_settings, point_public_url
from tests.test_browser import ARTIFACTS

PHONE, EMAIL = "+14155550101", "ana@example.com"
browser = test_browser.browser  # the same real-browser fixture (skipped where chromium is missing, except in CI)


async def test_customer_changes_channels_and_language_in_the_browser(browser, start_daemon, tmp_path, clock):
    async with fake_providers(clock) as (tw, sg):
        daemon = await start_daemon(messaging_settings(tmp_path, tw, sg, shop={"name": "Casa Azul"}),
                                    web_server=True)
        base = point_public_url(daemon)
        ship = await add(daemon, "ORDER-B1", "SBX-DELIVER-1", locale="pt-BR")
        await daemon.run_once()
        clock.advance(timedelta(hours=3))
        await daemon.run_once()
        assert len(tw.to(PHONE)) == 1 and len(sg.to(EMAIL)) == 1
        page = await browser.new_page(viewport={"width": 420, "height": 860})
        await page.goto(f"{base}/t/{ship.public_token}")
        await page.click("#preferences-link")
        await page.wait_for_selector("form#preferences")
        assert await page.title() == "Suas mensagens · Casa Azul"
        assert await page.is_checked("input[value=sms]") and await page.is_checked("input[value=email]")
        await page.screenshot(path=str(ARTIFACTS / "preferences-form.png"), full_page=True)
        await page.uncheck("input[value=sms]")
        await page.select_option("select#language", "es")
        await page.click("button[type=submit]")
        await page.wait_for_selector("[role=status]")
        assert "Tus preferencias están guardadas." in await page.inner_text("[role=status]")
        assert await page.get_attribute("html", "lang") == "es"
        assert not await page.is_checked("input[value=sms]") and await page.is_checked("input[value=email]")
        await page.screenshot(path=str(ARTIFACTS / "preferences-saved.png"), full_page=True)
        await page.close()
        await walk(daemon, clock, 40)
        assert len(tw.to(PHONE)) == 1  # no more SMS
        later = sg.to(EMAIL)[1:]
        assert len(later) == 2 and all("pedido" in m["subject"].lower() for m in later)  # in Spanish now


async def test_the_unsubscribe_link_of_an_email_in_the_browser(browser, start_daemon, tmp_path, clock):
    import re

    async with fake_providers(clock) as (tw, sg):
        daemon = await start_daemon(messaging_settings(tmp_path, tw, sg), web_server=True)
        point_public_url(daemon)
        await add(daemon, "ORDER-B2", "SBX-DELIVER-2", locale="el")
        await daemon.run_once()
        clock.advance(timedelta(hours=3))
        await daemon.run_once()
        url = re.fullmatch(r"<(.+)>", sg.to(EMAIL)[0]["headers"]["List-Unsubscribe"]).group(1)
        page = await browser.new_page(viewport={"width": 420, "height": 700})
        await page.goto(url)  # opening the link changes nothing...
        assert await page.is_visible("button:has-text('Διαγραφή')")
        await page.screenshot(path=str(ARTIFACTS / "unsubscribe-ask.png"), full_page=True)
        await page.click("button[type=submit]")  # ...the button does
        await page.wait_for_selector("[role=status]")
        assert "δεν θα λαμβάνετε πλέον email" in await page.inner_text("[role=status]")
        await page.screenshot(path=str(ARTIFACTS / "unsubscribe-done.png"), full_page=True)
        await page.close()
        await walk(daemon, clock, 40)
        assert len(sg.to(EMAIL)) == 1 and len(tw.to(PHONE)) == 3
