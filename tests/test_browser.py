"""A real browser (Debian's chromium, driven by Playwright) on the support console and the customer page.

Screenshots go to test-artifacts/ (kept by CI as artifacts). Skipped where chromium or Playwright is
missing, except in CI (CI=true), where they must run.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from tests.fakes._base import FakeServer
from tests.helpers import add, walk
from tests.web_helpers import PASSWORD, SUPPORT, web_daemon

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage"]


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


@contextlib.asynccontextmanager
async def launched(also_missing: str | None = None):
    """Chromium through Playwright; skipped (failed in CI) when it or `also_missing` is not there."""
    problem = _missing() or also_missing
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run in CI: {problem}")
        pytest.skip(problem)
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def browser():
    async with launched() as b:
        yield b


async def test_support_logs_in_searches_and_sees_timeline_and_notifications(browser, start_daemon, tmp_path, clock):
    daemon = await web_daemon(start_daemon, tmp_path, **SUPPORT)
    await add(daemon, "ORDER-1001", "SBX-DELIVER-1")
    await add(daemon, "ORDER-1002", "SBX-EXCEPTION-2")
    await walk(daemon, clock, 40)
    base = f"http://127.0.0.1:{daemon.port}"
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(f"{base}/support")
    assert await page.title() == "Support login · Demo Shop"
    await page.fill("input[name=username]", "maria")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#attention")
    assert "ORDER-1002" in await page.inner_text("#attention")
    await page.screenshot(path=str(ARTIFACTS / "support-home.png"), full_page=True)

    await page.fill("input[name=q]", "ORDER-1001")
    await page.press("input[name=q]", "Enter")
    await page.wait_for_selector("h1:has-text('Order ORDER-1001')")
    timeline = await page.inner_text("table.timeline")
    assert "delivered" in timeline and "out_for_delivery" in timeline and "in_transit" in timeline
    notes = await page.inner_text("table.notifications")
    assert notes.count("sent") >= 6 and "sms" in notes and "email" in notes
    await page.screenshot(path=str(ARTIFACTS / "support-order.png"), full_page=True)
    # on a phone the tables reflow: rows of whole words, nothing wider than the screen
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.screenshot(path=str(ARTIFACTS / "support-order-phone.png"), full_page=True)
    assert not await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    cell = await page.evaluate("""() => { const td = document.querySelector('table.timeline td');
        return td.getBoundingClientRect().width; }""")
    assert cell > 60  # not a column one letter wide
    await page.set_viewport_size({"width": 1280, "height": 900})

    # the recheck button works from the browser
    await page.click("button:has-text('Recheck now')")
    await page.wait_for_selector("[role=status]")
    assert "Recheck queued" in await page.inner_text("[role=status]")
    await page.close()


@pytest.mark.parametrize("locale,heading,step", [
    ("el", "Ιστορικό αποστολής", "Σε διανομή"),
    ("pt-BR", "Histórico de rastreamento", "Saiu para entrega"),
])
async def test_customer_page_on_a_phone_in_greek_and_portuguese(browser, start_daemon, tmp_path, clock, locale,
                                                               heading, step):
    daemon = await web_daemon(start_daemon, tmp_path)
    ship = await add(daemon, "ORDER-2001", "SBX-DELIVER-5", locale=locale, timezone="Europe/Athens")
    await walk(daemon, clock, 20)
    context = await browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                        is_mobile=True, has_touch=True)
    page = await context.new_page()
    await page.goto(f"http://127.0.0.1:{daemon.port}/t/{ship.public_token}")
    text = await page.inner_text("body")
    assert heading in text and step in text and "ORDER-2001" in text
    assert "ana@example.com" not in text and "4155550101" not in text
    # fits a phone screen: nothing wider than the viewport
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    await page.screenshot(path=str(ARTIFACTS / f"customer-{locale}.png"), full_page=True)
    await context.close()


async def test_customer_page_of_a_two_parcel_order_lists_both_parcels_on_a_phone(browser, start_daemon, tmp_path,
                                                                               clock):
    daemon = await web_daemon(start_daemon, tmp_path)
    start = int(clock.now().timestamp())
    first = await add(daemon, "E-MULTI", f"SBX-DELIVER-1-{start}", locale="es")
    await add(daemon, "E-MULTI", f"SBX-DELIVER-2-{start + 10 * 3600}", locale="es")
    await walk(daemon, clock, 36)  # the first parcel is delivered, the second is on its way
    context = await browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                        is_mobile=True, has_touch=True)
    page = await context.new_page()
    await page.goto(f"http://127.0.0.1:{daemon.port}/t/{first.public_token}")
    parcels = await page.inner_text(".parcels")
    assert "Tu pedido viaja en 2 paquetes" in parcels
    assert "Paquete 1 de 2 (esta página)" in parcels and "Entregado" in parcels and "En tránsito" in parcels
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.screenshot(path=str(ARTIFACTS / "customer-two-parcels.png"), full_page=True)
    await page.click("a:has-text('Paquete 2 de 2')")  # the other parcel's own page
    await page.wait_for_selector(".parcel-name:has-text('Paquete 2 de 2')")
    await context.close()


LOGO_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="160" height="40" viewBox="0 0 160 40">'
            '<rect width="40" height="40" rx="8" fill="#7a1f5c"/><circle cx="20" cy="20" r="9" fill="#f4c542"/>'
            '<text x="50" y="27" font-family="DejaVu Sans, sans-serif" font-size="18" fill="#7a1f5c">Aurora</text></svg>')


class LogoServer(FakeServer):
    """The shop's logo, served where the shop's CDN would be."""

    def routes(self, app) -> None:
        from aiohttp import web

        async def logo(_request):
            return web.Response(body=LOGO_SVG.encode(), content_type="image/svg+xml")

        app.router.add_get("/logo.svg", logo)


async def test_a_branded_tracking_page_shows_the_logo_colours_and_how_to_reach_the_shop(browser, start_daemon,
                                                                                       tmp_path, clock):
    async with LogoServer() as cdn:
        daemon = await web_daemon(start_daemon, tmp_path, shop={
            "name": "Papelaria Aurora", "logo_url": f"{cdn.url}/logo.svg",
            "colors": {"primary": "#7a1f5c", "on_primary": "#ffffff", "background": "#fbf7f2"},
            "support": {"pt-BR": {"email": "suporte@aurora.example", "phone": "+55 11 3000-0000",
                                  "hours": "seg. a sex., 9h às 18h"}}})
        ship = await add(daemon, "PA-2001", "SBX-FAILED-7", locale="pt-BR", timezone="America/Sao_Paulo")
        await walk(daemon, clock, 35)
        context = await browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                            is_mobile=True, has_touch=True)
        page = await context.new_page()
        await page.goto(f"http://127.0.0.1:{daemon.port}/t/{ship.public_token}")
        # the logo really loaded (the page's Content-Security-Policy lets exactly its origin in)
        assert await page.evaluate("document.querySelector('.brand img').naturalWidth") > 0
        done = await page.evaluate(
            "getComputedStyle(document.querySelector('.steps li.done'), '::before').backgroundColor")
        assert done == "rgb(122, 31, 92)"  # the shop's colour on the progress bar
        assert await page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(251, 247, 242)"
        text = await page.inner_text("body")
        assert "Fale com a gente" in text and "suporte@aurora.example" in text and "+55 11 3000-0000" in text
        assert "seg. a sex., 9h às 18h" in text
        assert "Mensagem original da transportadora" in text and "Departed sort facility" not in text
        assert await page.get_attribute(".contact a[href^='tel:']", "href") == "tel:+551130000000"
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await page.screenshot(path=str(ARTIFACTS / "customer-branded-pt-BR.png"), full_page=True)
        await context.close()
