"""The customer's tracking page /t/<token>, over real HTTP."""

from __future__ import annotations


import pytest

from tests.helpers import add, walk
from tests.web_helpers import Client, web_daemon


@pytest.fixture
async def site(start_daemon, tmp_path):
    daemon = await web_daemon(start_daemon, tmp_path)
    client = Client(daemon)
    yield daemon, client
    await client.close()


@pytest.mark.parametrize("locale,words", [
    ("en", ["Tracking history", "On its way", "Expected delivery"]),
    ("pt-BR", ["Histórico de rastreamento", "Em trânsito", "Previsão de entrega"]),
    ("es", ["Historial de seguimiento", "En tránsito", "Entrega prevista"]),
    ("el", ["Ιστορικό αποστολής", "Καθ' οδόν", "Αναμενόμενη παράδοση"]),
])
async def test_page_speaks_the_order_language_and_shows_no_contact_data(site, clock, locale, words):
    daemon, c = site
    ship = await add(daemon, "ORDER-7", "SBX-DELIVER-7", locale=locale, email="ana.silva@example.com",
                     phone="+14155550101")
    await walk(daemon, clock, 8)
    status, html, resp = await c.request("GET", f"/t/{ship.public_token}")
    assert status == 200 and resp.headers["Content-Type"].startswith("text/html")
    for w in words:
        assert w.replace("'", "&#39;") in html, w
    assert f'lang="{locale}"' in html and 'name="viewport"' in html
    assert "ORDER-7" in html and "SBX-DELIVER-7" in html
    assert "ana.silva" not in html and "example.com" not in html and "4155550101" not in html
    assert resp.headers["Referrer-Policy"] == "no-referrer"


async def test_unknown_token_gets_a_friendly_404(site):
    daemon, c = site
    status, html, _ = await c.request("GET", "/t/not-a-real-token-at-all")
    assert status == 404 and "not valid" in html
    status, html, _ = await c.request("GET", "/t/<script>")
    assert status == 404 and "<script>" not in html


async def test_html_in_order_fields_is_escaped(site, clock):
    daemon, c = site
    ship = await add(daemon, "<script>alert(1)</script>", "SBX-DELIVER-9")
    status, html, _ = await c.request("GET", f"/t/{ship.public_token}")
    assert status == 200
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
