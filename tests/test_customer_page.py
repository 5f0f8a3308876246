"""The customer's tracking page /t/<token>, over real HTTP."""

from __future__ import annotations


import pytest

from tests.helpers import add, walk
from tests.web_helpers import Client, web_daemon


@pytest.mark.parametrize("locale,words", [
    ("en", ["Tracking history", "On its way", "Expected delivery"]),
    ("pt-BR", ["Histórico de rastreamento", "Em trânsito", "Previsão de entrega"]),
    ("es", ["Historial de seguimiento", "En tránsito", "Entrega prevista"]),
    ("el", ["Ιστορικό αποστολής", "Καθ' οδόν", "Αναμενόμενη παράδοση"]),
])
async def test_page_speaks_the_order_language_and_shows_no_contact_data(site, clock, locale, words):
    daemon, c = site
    ship = await add(daemon, "ORDER-7", "SBX-DELIVER-7", locale=locale, email="ana.silva@customer.example",
                     phone="+14155550101")
    await walk(daemon, clock, 8)
    status, html, resp = await c.request("GET", f"/t/{ship.public_token}")
    assert status == 200 and resp.headers["Content-Type"].startswith("text/html")
    for w in words:
        assert w.replace("'", "&#39;") in html, w
    assert f'lang="{locale}"' in html and 'name="viewport"' in html
    assert "ORDER-7" in html and "SBX-DELIVER-7" in html
    assert "ana.silva" not in html and "customer.example" not in html and "4155550101" not in html
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


BRANDED_SHOP = {
    "name": "Papelaria Aurora", "logo_url": "https://cdn.aurora.example/img/logo.png",
    "colors": {"primary": "#7A1F5C", "on_primary": "#FFFFFF", "background": "#FBF7F2"},
    "support": {"pt-BR": {"email": "suporte@aurora.example", "phone": "+55 11 3000-0000",
                          "hours": "seg. a sex., 9h às 18h"}},
}


async def test_a_branded_page_shows_the_shop_and_how_to_reach_it_in_the_customers_language(start_daemon, tmp_path,
                                                                                           clock):
    daemon = await web_daemon(start_daemon, tmp_path, shop=BRANDED_SHOP)
    c = Client(daemon)
    try:
        br = await add(daemon, "PA-1", "SBX-FAILED-1", locale="pt-BR")
        en = await add(daemon, "PA-2", "SBX-DELIVER-2", locale="en", email="bo@customer.example")
        await walk(daemon, clock, 35)
        status, html, resp = await c.request("GET", f"/t/{br.public_token}")
        assert status == 200
        assert '<img src="https://cdn.aurora.example/img/logo.png" alt="Papelaria Aurora">' in html
        assert "--accent: #7a1f5c" in html and "background: #fbf7f2" in html
        # the logo may load, and nothing else from anywhere
        assert "img-src https://cdn.aurora.example" in resp.headers["Content-Security-Policy"]
        assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
        # how to reach the shop, in Portuguese, with the Brazilian contact
        assert "Fale com a gente" in html and 'href="mailto:suporte@aurora.example"' in html
        assert 'href="tel:+551130000000"' in html and "seg. a sex., 9h às 18h" in html
        # the step and its detail are told in Portuguese; the carrier's English only folded away behind a
        # labelled disclosure, only where it helps
        assert "Tentativa de entrega sem sucesso" in html
        assert '<div class="detail" data-kind="nobody_home">' in html and "Não havia ninguém para receber." in html
        assert "A transportadora vai tentar de novo" in html
        assert ("<details class=\"carrier-words\"><summary>Mensagem original da transportadora</summary>"
                "<q lang=\"\">Delivery attempted, nobody home; we will try again tomorrow</q></details>") in html
        assert "Departed sort facility" not in html and "Picked up by carrier" not in html
        # another language falls back to the shop-wide contact
        _, html, _ = await c.request("GET", f"/t/{en.public_token}")
        assert "Questions? Contact us" in html and "support@example.com" in html and "suporte@" not in html
        assert "bo@customer.example" not in html
    finally:
        await c.close()


async def test_a_page_without_a_logo_allows_no_image_source(site, clock):
    daemon, c = site
    ship = await add(daemon, "ORDER-8", "SBX-DELIVER-8")
    status, html, resp = await c.request("GET", f"/t/{ship.public_token}")
    assert status == 200 and "<img" not in html and "img-src" not in resp.headers["Content-Security-Policy"]


async def test_a_broken_link_still_says_how_to_reach_the_shop(start_daemon, tmp_path):
    daemon = await web_daemon(start_daemon, tmp_path, shop=BRANDED_SHOP)
    c = Client(daemon)
    try:
        status, html, _ = await c.request("GET", "/t/not-a-real-token-at-all?lang=pt-BR")
        assert status == 404 and "não é válido" in html
        assert 'href="mailto:suporte@aurora.example"' in html and "seg. a sex., 9h às 18h" in html
        assert "--accent: #7a1f5c" in html
    finally:
        await c.close()
