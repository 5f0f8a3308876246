"""The support console over real HTTP (the browser test drives the same pages in chromium)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.helpers import add, notifications, walk
from tests.web_helpers import SUPPORT, Client, api_key, csrf_of, support_login, web_daemon


@pytest.fixture
async def console(start_daemon, tmp_path):
    daemon = await web_daemon(start_daemon, tmp_path, **SUPPORT)
    client = Client(daemon)
    yield daemon, client
    await client.close()


async def test_pages_need_a_login_and_a_wrong_password_is_refused(console):
    daemon, c = console
    status, html, resp = await c.request("GET", "/support/order?number=X")
    assert status == 200 and "Support login" in html and resp.url.path == "/support/login"
    status, html = await support_login(c, password="wrong")
    assert status == 401 and "Wrong user name or password" in html
    status, html = await support_login(c, user="nobody")
    assert status == 401
    status, html = await support_login(c)
    assert status == 200 and "Find an order" in html and "maria" in html
    assert f"tracker {daemon.version}</footer>" in html  # which release support is looking at


async def test_an_api_key_logs_in_too(console):
    daemon, c = console
    key = await api_key(daemon, "helpdesk")
    status, html = await support_login(c, user="", password=key)
    assert status == 200 and "apikey:helpdesk" in html
    # revoking the key ends the sessions it opened
    from tracker import apikeys
    await apikeys.revoke_key(daemon.engine, "helpdesk", daemon.clock.now())
    status, html, resp = await c.request("GET", "/support")
    assert resp.url.path == "/support/login"


async def test_search_order_page_timeline_notifications_and_resend(console, clock):
    daemon, c = console
    ship = await add(daemon, "ORDER-1001", "SBX-DELIVER-1", email="ana.silva@example.com")
    await add(daemon, "ORDER-1002", "SBX-EXCEPTION-2")
    await walk(daemon, clock, 40)
    await support_login(c)
    status, html, resp = await c.request("GET", "/support", params={"q": "ORDER-1001"})
    assert status == 200 and resp.url.path == "/support/order"  # one match: straight to the order
    assert "Order ORDER-1001" in html and "Carrier timeline" in html and "delivered" in html
    assert "ana.silva@example.com" in html  # support sees the contact data
    assert html.count("Resend</button>") == len(await notifications(daemon.engine, ship.id)) == 6
    # the attention list names the shipment held at customs
    status, html, _ = await c.request("GET", "/support")
    assert "Needs attention" in html and "ORDER-1002" in html and "ORDER-1001" not in html
    # resend the first notification from its button
    _, html, _ = await c.request("GET", "/support/order", params={"number": "ORDER-1001"})
    first = (await notifications(daemon.engine, ship.id))[0]
    status, html, _ = await c.request("POST", f"/support/notifications/{first.id}/resend",
                                      data={"csrf": csrf_of(html), "number": "ORDER-1001"})
    assert status == 200 and "Notification queued again" in html
    await daemon.run_once()
    again = [n for n in await notifications(daemon.engine, ship.id) if n.id == first.id][0]
    assert again.state == "sent" and again.attempts == first.attempts + 1


async def test_forms_without_the_csrf_token_are_refused(console, clock):
    daemon, c = console
    ship = await add(daemon, "ORDER-1", "SBX-DELIVER-1")
    await support_login(c)
    status, html, _ = await c.request("POST", f"/support/shipments/{ship.id}/stop", data={"number": "ORDER-1"})
    assert status == 403
    status, html, _ = await c.request("POST", f"/support/shipments/{ship.id}/stop",
                                      data={"number": "ORDER-1", "csrf": "forged"})
    assert status == 403
    _, html, _ = await c.request("GET", "/support/order", params={"number": "ORDER-1"})
    status, html, _ = await c.request("POST", f"/support/shipments/{ship.id}/stop",
                                      data={"number": "ORDER-1", "csrf": csrf_of(html)})
    assert status == 200 and "Tracking stopped" in html and "tracking stopped by support:maria" in html
    # and a login form posted from elsewhere (no login cookie) is refused
    other = Client(daemon)
    try:
        status, _, _ = await other.request("POST", "/support/login", data={"username": "maria", "password": "x",
                                                                           "csrf": "x"})
        assert status == 403
    finally:
        await other.close()


async def test_html_in_order_fields_is_escaped_on_every_support_page(console, clock):
    daemon, c = console
    evil = '<img src=x onerror=alert(1)>'
    await add(daemon, evil, "SBX-EXCEPTION-3")
    await walk(daemon, clock, 40)
    await support_login(c)
    pages = [("/support", {}), ("/support", {"q": "SBX-EXCEPTION-3"}), ("/support/order", {"number": evil}),
             ("/support", {"q": evil + "x"}), ("/support/order", {"number": evil + "x"})]
    for path, params in pages:
        status, html, _ = await c.request("GET", path, params=params)
        assert status in (200, 404)
        assert evil not in html and "&lt;img src=x onerror=alert(1)&gt;" in html, (path, params)
        assert "Needs attention" in html or "Order " in html or "Results for" in html


async def test_timeline_is_in_the_shops_time_zone(start_daemon, tmp_path, clock):
    daemon = await web_daemon(start_daemon, tmp_path, shop={"timezone": "America/Sao_Paulo"}, **SUPPORT)
    c = Client(daemon)
    try:
        await add(daemon, "ORDER-TZ", "SBX-DELIVER-1")
        await walk(daemon, clock, 3)
        await support_login(c)
        _, html, _ = await c.request("GET", "/support/order", params={"number": "ORDER-TZ"})
        # the label was created at 14:00 UTC, 11:00 in São Paulo
        assert "Times in America/Sao_Paulo" in html and "2026-03-02 11:00" in html and "2026-03-02 14:00" not in html
    finally:
        await c.close()


async def test_repeated_wrong_passwords_are_throttled(console, clock):
    daemon, c = console
    for _ in range(10):
        status, _ = await support_login(c, password="guess")
        assert status == 401
    status, html = await support_login(c)  # even the right password waits now
    assert status == 429 and "Too many failed attempts" in html
    clock.advance(timedelta(minutes=16))
    status, html = await support_login(c)
    assert status == 200 and "Find an order" in html
