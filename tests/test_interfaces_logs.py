"""No API key, password, full phone number or email address in the log lines the interfaces write."""

from __future__ import annotations

import json
import logging

from tests.test_intake_webhooks import FULFILLMENT, SHOPIFY_SECRET, sign
from tests.web_helpers import (
    PASSWORD,
    SUPPORT,
    Client,
    api_key,
    support_login,
    web_daemon,
)


async def drive_interfaces(daemon, clock) -> list[str]:
    """API, search, support login, shop webhooks and a day of polling; returns what no log may hold."""
    key = await api_key(daemon)
    c = Client(daemon, key)
    web = Client(daemon)
    try:
        secrets_and_contacts = [key, PASSWORD, SHOPIFY_SECRET, "ana.silva@example.com", "+14155550101",
                                "jon@example.com", "bad@@example.com", "4155550133"]
        await c.request("POST", "/api/v1/shipments", json={
            "order_number": "ORDER-1", "carrier": "sandbox", "tracking_number": "SBX-DELIVER-1",
            "email": "ana.silva@example.com", "phone": "+14155550101"})
        await c.request("POST", "/api/v1/shipments", json={
            "order_number": "ORDER-2", "carrier": "sandbox", "tracking_number": "SBX-DELIVER-2",
            "email": "bad@@example.com"})
        await c.request("GET", "/api/v1/search", params={"q": "ana.silva@example.com"})
        await support_login(web, password="wrong " + PASSWORD)
        await support_login(web)
        raw = json.dumps({**FULFILLMENT, "email": "bad@@example.com", "destination": {"phone": "+1 415-555-0133"},
                          "tracking_company": "Pigeon"}).encode()
        await c.request("POST", "/webhooks/shopify", data=raw, headers={
            "X-Shopify-Topic": "fulfillments/create", "X-Shopify-Hmac-Sha256": sign(SHOPIFY_SECRET, raw)})
        await c.request("POST", "/webhooks/shopify", data=raw, headers={
            "X-Shopify-Topic": "fulfillments/create", "X-Shopify-Hmac-Sha256": "forged"})
        for _ in range(30):
            await daemon.run_once()
            clock.advance(3600)
    finally:
        await c.close()
        await web.close()
    return secrets_and_contacts


async def test_log_lines_hold_no_secrets_or_contact_data(start_daemon, tmp_path, clock, caplog):
    caplog.set_level(logging.DEBUG, logger="tracker")
    daemon = await web_daemon(start_daemon, tmp_path, intake={"shopify_secret": SHOPIFY_SECRET}, **SUPPORT)
    secrets_and_contacts = await drive_interfaces(daemon, clock)
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("tracker"))
    assert "support login" in text and "webhook" in text  # the interfaces did log
    for value in secrets_and_contacts:
        assert value not in text, value
