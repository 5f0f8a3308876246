"""The customer's pages in a real browser on a phone (issue 23): failed attempt, pickup, delivered with
proof and "report a problem", before shipping, two parcels; in en, pt-BR, es and el. Each page is
screenshotted to test-artifacts/pages-<page>-<locale>.png and checked with axe-core: no serious or
critical violation.

axe-core comes from npm at a pinned version, installed by .ci/run into .axe/ (not vendored):
    npm install --prefix .axe axe-core@4.14.1
Skipped without chromium, Playwright or axe-core, except in CI (CI=true), where they must be there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import add, walk
from tests.test_browser import ARTIFACTS, launched
from tests.test_parcels import waiting_order
from tests.web_helpers import web_daemon

AXE = Path(__file__).resolve().parent.parent / ".axe" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
LOCALES = ["en", "pt-BR", "es", "el"]


@pytest.fixture
async def browser():
    async with launched(None if AXE.exists() else f"{AXE} missing (npm install --prefix .axe axe-core@4.14.1)") as b:
        yield b


async def look(browser, url: str, name: str) -> dict:
    """Open `url` on a phone, screenshot it whole, run axe-core; returns the serious violations and facts."""
    context = await browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True)
    page = await context.new_page()
    try:
        await page.goto(url)
        await page.screenshot(path=str(ARTIFACTS / f"pages-{name}.png"), full_page=True)
        # the page's CSP forbids scripts of its own; axe runs in the page through the DevTools protocol
        await page.evaluate(AXE.read_text(encoding="utf-8"))
        result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        serious = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
                   if v["impact"] in ("serious", "critical")]
        wide = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        sizes = await page.evaluate("""() => [...document.querySelectorAll('.expected, h1, .status')]
            .map(e => [e.className || e.tagName, parseFloat(getComputedStyle(e).fontSize)])""")
        return {"serious": serious, "wide": wide, "sizes": sizes, "html": await page.content()}
    finally:
        await context.close()


def largest_is_the_date(sizes) -> bool:
    dates = [s for c, s in sizes if "expected" in str(c)]
    return bool(dates) and max(dates) >= max(s for _, s in sizes)


@pytest.mark.parametrize("locale", LOCALES)
async def test_customer_pages_on_a_phone(browser, start_daemon, tmp_path, clock, locale):
    daemon = await web_daemon(start_daemon, tmp_path)
    base = f"http://127.0.0.1:{daemon.port}"
    start = int(clock.now().timestamp())
    waiting = await waiting_order(daemon, "P-WAIT", locale=locale)
    failed = await add(daemon, "P-FAIL", f"SBX-FAILED-{start}", locale=locale)
    pickup = await add(daemon, "P-PICK", f"SBX-PICKUP-{start}", locale=locale)
    delivered = await add(daemon, "P-DLV", f"SBX-DELIVER-{start}", locale=locale)
    first = await add(daemon, "P-TWO", f"SBX-DELIVER-1-{start}", locale=locale)
    await add(daemon, "P-TWO", f"SBX-DELIVER-2-{start + 10 * 3600}", locale=locale)
    await walk(daemon, clock, 36)
    pages = {
        "failed": f"/t/{failed.public_token}",
        "pickup": f"/t/{pickup.public_token}",
        "delivered": f"/t/{delivered.public_token}",
        "before-shipping": f"/o/{waiting.public_token}",
        "two-parcels": f"/t/{first.public_token}",
    }
    seen = {}
    for name, path in pages.items():
        seen[name] = got = await look(browser, base + path, f"{name}-{locale}")
        assert got["serious"] == [], (name, locale, got["serious"])
        assert not got["wide"], (name, locale)  # nothing scrolls sideways on a phone
    assert 'data-kind="nobody_home"' in seen["failed"]["html"]
    assert "openstreetmap.org/search" in seen["pickup"]["html"] and largest_is_the_date(seen["pickup"]["sizes"])
    assert 'id="report"' in seen["delivered"]["html"] and "J. DOE" in seen["delivered"]["html"]
    assert largest_is_the_date(seen["before-shipping"]["sizes"])
    assert 'class="order-state"' in seen["two-parcels"]["html"]
