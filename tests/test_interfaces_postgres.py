"""The API, webhooks, support search and metrics on PostgreSQL (skipped where none is reachable, never in CI)."""

from __future__ import annotations

import json

import pytest

from tests.helpers import make_settings, metric, notifications
from tests.test_intake_webhooks import FULFILLMENT, SHOPIFY_SECRET, sign
from tests.web_helpers import SUPPORT, Client, api_key, support_login

pytestmark = pytest.mark.postgres


async def test_interfaces_on_postgres(pg_url, tmp_path, start_daemon, clock):
    settings = make_settings(tmp_path, database_url=pg_url, server={"enabled": False, "port": 0},
                             intake={"shopify_secret": SHOPIFY_SECRET}, **SUPPORT)
    daemon = await start_daemon(settings, web_server=True)
    c = Client(daemon, await api_key(daemon))
    try:
        items = [{"order_number": f"PG-{i}", "carrier": "sandbox", "tracking_number": f"SBX-DELIVER-{i}",
                  "email": f"c{i}@example.com"} for i in range(50)] + [
                 {"order_number": "PG-X", "carrier": "sandbox", "tracking_number": "SBX-DELIVER-1",
                  "email": "x@example.com"}]
        status, body, _ = await c.request("POST", "/api/v1/shipments", json={"shipments": items})
        assert (status, body["created"], body["rejected"]) == (200, 50, 1)
        status, body, _ = await c.request("GET", "/api/v1/search", params={"q": "C7@EXAMPLE.COM"})
        assert [r["order_number"] for r in body["results"]] == ["PG-7"]
        sid = body["results"][0]["id"]
        for _ in range(40):
            await daemon.run_once()
            clock.advance(3600)
        note = (await notifications(daemon.engine, sid))[0]
        status, body, _ = await c.request("POST", f"/api/v1/notifications/{note.id}/resend")
        assert status == 202
        status, body, _ = await c.request("POST", f"/api/v1/shipments/{sid}/stop")
        assert body["shipment"]["tracking_stopped"] is True

        raw = json.dumps(FULFILLMENT).encode()
        headers = {"X-Shopify-Topic": "fulfillments/create", "X-Shopify-Webhook-Id": "pg-1",
                   "X-Shopify-Hmac-Sha256": sign(SHOPIFY_SECRET, raw), "Content-Type": "application/json"}
        status, body, _ = await c.request("POST", "/webhooks/shopify", data=raw, headers=headers)
        assert status == 200 and body["registered"][0]["created"] is True
        status, body, _ = await c.request("POST", "/webhooks/shopify", data=raw, headers=headers)
        assert body == {"duplicate": True}

        status, text, _ = await c.request("GET", "/metrics")
        assert metric(text, "tracker_polls_total", carrier="sandbox", outcome="ok") is not None
        status, body, _ = await c.request("GET", "/readyz")
        assert status == 200

        web = Client(daemon)
        try:
            await support_login(web)
            status, html, _ = await web.request("GET", "/support", params={"q": "PG-7"})
            assert "Order PG-7" in html and "tracking stopped by apikey:shop" in html
        finally:
            await web.close()
    finally:
        await c.close()
