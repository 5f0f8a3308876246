"""The order's page before it ships, /o/<token> (issue 20 item 3's page, issue 23): over real HTTP."""

from __future__ import annotations

import pytest

from tests.helpers import add, walk
from tests.test_parcels import waiting_order


@pytest.mark.parametrize("locale,confirmed,ships_by", [
    ("en", "Confirmed — being prepared", "Ships by"), ("pt-BR", "Confirmado — em preparação", "Envio até"),
    ("es", "Confirmado — lo estamos preparando", "Sale como tarde el"), ("el", "Επιβεβαιώθηκε — ετοιμάζεται", "Αποστολή έως"),
])
async def test_an_order_waiting_to_ship_has_a_page_saying_when_it_ships(site, clock, locale, confirmed, ships_by):
    daemon, c = site
    order = await waiting_order(daemon, "W-1", locale=locale)
    assert order.public_token and len(order.public_token) >= 32
    status, html, resp = await c.request("GET", f"/o/{order.public_token}")
    assert status == 200 and confirmed in html and ships_by in html and 'class="expected"' in html
    assert f'lang="{locale}"' in html and "W-1" in html
    assert "<script" not in html and resp.headers["Referrer-Policy"] == "no-referrer"
    assert "@example.com" not in html.replace("support@example.com", "")  # no customer contact data
    # late: the page apologises instead of promising
    await walk(daemon, clock, 49)
    _, late, _ = await c.request("GET", f"/o/{order.public_token}")
    assert late != html


async def test_the_order_page_leads_to_its_parcels_once_it_ships(site, clock):
    daemon, c = site
    order = await waiting_order(daemon, "W-2")
    a = await add(daemon, "W-2", "SBX-DELIVER-71")
    status, _, resp = await c.request("GET", f"/o/{order.public_token}", allow_redirects=False)
    assert status == 302 and resp.headers["Location"] == f"/t/{a.public_token}"
    b = await add(daemon, "W-2", "SBX-DELIVER-72")
    status, html, _ = await c.request("GET", f"/o/{order.public_token}")
    assert status == 200 and f'href="/t/{a.public_token}"' in html and f'href="/t/{b.public_token}"' in html
    assert "Parcel 1 of 2" in html and "Parcel 2 of 2" in html


async def test_an_unknown_order_token_gets_a_friendly_404(site):
    _, c = site
    status, html, _ = await c.request("GET", "/o/not-a-real-token-at-all")
    assert status == 404 and "not valid" in html
