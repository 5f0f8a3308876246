"""The shop's HTTP API on a real aiohttp server and a real SQLite database."""

from __future__ import annotations

import io

import pytest

from tests.helpers import notifications, shipment
from tests.web_helpers import Client, api_key, web_daemon
from tracker import apikeys

ONE = {"order_number": "ORDER-1001", "carrier": "sandbox", "tracking_number": "SBX-DELIVER-1",
       "email": "ana@example.com", "phone": "+14155550101", "locale": "pt-BR"}


@pytest.fixture
async def api(start_daemon, tmp_path):
    daemon = await web_daemon(start_daemon, tmp_path)
    client = Client(daemon, await api_key(daemon))
    yield daemon, client
    await client.close()


async def test_register_one_then_duplicate_updates_contact_and_never_duplicates(api):
    daemon, c = api
    status, body, _ = await c.request("POST", "/api/v1/shipments", json=ONE)
    assert status == 201 and body["created"] is True
    ship = body["shipment"]
    assert ship["order_number"] == "ORDER-1001" and ship["status"] == "pending"
    assert ship["tracking_url"].endswith("/t/" + ship["tracking_url"].rsplit("/", 1)[1])

    status, body, _ = await c.request("POST", "/api/v1/shipments", json={**ONE, "email": "new@example.com"})
    assert status == 200 and body["created"] is False and body["shipment"]["id"] == ship["id"]
    status, order, _ = await c.request("GET", "/api/v1/orders/ORDER-1001")
    assert status == 200
    assert order["order"]["email"] == "new@example.com" and len(order["shipments"]) == 1


async def test_bulk_registers_good_items_and_reports_bad_ones(api):
    daemon, c = api
    items = [{**ONE, "order_number": f"ORDER-{i}", "tracking_number": f"SBX-DELIVER-{i}"} for i in range(300)]
    items[5]["phone"] = "12"                      # bad phone
    items[7]["carrier"] = "nosuchcarrier"          # bad carrier
    items[9]["tracking_number"] = "SBX-DELIVER-1"  # belongs to ORDER-1 already (in the same batch)
    items.append(dict(items[3]))                   # a duplicate of an item in the same batch: fine
    status, body, _ = await c.request("POST", "/api/v1/shipments", json={"shipments": items})
    assert status == 200
    assert (body["created"], body["updated"], body["rejected"]) == (297, 1, 3)
    errors = {r["index"]: r["error"]["field"] for r in body["results"] if "error" in r}
    assert errors == {5: "phone", 7: "carrier", 9: "tracking_number"}
    assert "ORDER-1" in body["results"][9]["error"]["problem"]
    # again: idempotent
    status, body, _ = await c.request("POST", "/api/v1/shipments", json={"shipments": items})
    assert (body["created"], body["updated"], body["rejected"]) == (0, 298, 3)


async def test_bulk_over_the_cap_and_oversized_bodies_are_refused_in_json(api):
    daemon, c = api
    items = [{**ONE, "tracking_number": f"SBX-{i}"} for i in range(1001)]
    status, body, _ = await c.request("POST", "/api/v1/shipments", json={"shipments": items})
    assert status == 422 and body["error"]["field"] == "shipments"
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    status, body, _ = await c.request("POST", "/api/v1/shipments", data=io.BytesIO(big),
                                      headers={"Content-Type": "application/json"})
    assert status == 413 and body["error"]["field"] == "(body)"

    async def chunked():  # no Content-Length: the limit holds while reading
        for i in range(0, len(big), 65536):
            yield big[i:i + 65536]

    status, body, _ = await c.request("POST", "/api/v1/shipments", data=chunked(),
                                      headers={"Content-Type": "application/json"})
    assert status == 413 and body["error"]["field"] == "(body)"


async def test_errors_name_the_field_and_the_problem(api):
    daemon, c = api
    status, body, _ = await c.request("POST", "/api/v1/shipments", json={**ONE, "email": "not-an-email"})
    assert status == 422 and body["error"]["field"] == "email" and "not-an-email" in body["error"]["problem"]
    status, body, _ = await c.request("POST", "/api/v1/shipments", json={**ONE, "colour": "red"})
    assert status == 422 and body["error"]["field"] == "colour"
    status, body, _ = await c.request("POST", "/api/v1/shipments", data=b"{nope", headers={"Content-Type": "application/json"})
    assert status == 400 and "JSON" in body["error"]["problem"]
    status, body, _ = await c.request("GET", "/api/v1/orders/NOPE")
    assert status == 404 and body["error"]["field"] == "number"
    status, body, _ = await c.request("POST", "/api/v1/shipments/abc/recheck")
    assert status == 422 and body["error"]["field"] == "shipment_id"
    status, body, _ = await c.request("GET", "/api/v1/nowhere")
    assert status == 404 and "error" in body


async def test_search_by_order_email_phone_and_tracking_number(api):
    daemon, c = api
    await c.request("POST", "/api/v1/shipments", json=ONE)
    await c.request("POST", "/api/v1/shipments", json={**ONE, "order_number": "ORDER-2", "tracking_number": "SBX-X",
                                                       "email": "bo@example.com", "phone": "+14155550199"})
    for q in ("ORDER-1001", "ANA@example.com", "+1 415 555 0101", "(415) 555-0101", "sbx-deliver-1"):
        status, body, _ = await c.request("GET", "/api/v1/search", params={"q": q})
        assert status == 200, q
        assert [r["order_number"] for r in body["results"]] == ["ORDER-1001"], q
    status, body, _ = await c.request("GET", "/api/v1/search", params={"q": "nobody@example.com"})
    assert body["results"] == []
    status, body, _ = await c.request("GET", "/api/v1/search")
    assert status == 422 and body["error"]["field"] == "q"


async def test_recheck_stop_and_resend(api, clock):
    daemon, c = api
    _, body, _ = await c.request("POST", "/api/v1/shipments", json={**ONE, "channels": ["email"]})
    sid = body["shipment"]["id"]
    clock.advance(3 * 3600)
    await daemon.run_once()  # first check: the sandbox journey has started
    # stop: no more checks, and the status says so
    status, body, _ = await c.request("POST", f"/api/v1/shipments/{sid}/stop")
    assert status == 200 and body["shipment"]["tracking_stopped"] is True
    assert body["shipment"]["next_check_at"] is None and "tracking stopped" in body["shipment"]["status_text"]
    assert (await shipment(daemon.engine, sid)).next_check_at is None
    # recheck: due now, and the next run checks it
    status, body, _ = await c.request("POST", f"/api/v1/shipments/{sid}/recheck")
    assert status == 202 and body["shipment"]["tracking_stopped"] is False
    assert (await shipment(daemon.engine, sid)).next_check_at == clock.now()
    for _ in range(30):
        clock.advance(3600)
        await daemon.run_once()
    notes = await notifications(daemon.engine, sid)
    assert notes and all(n.state == "sent" for n in notes)
    first = notes[0]
    status, body, _ = await c.request("POST", f"/api/v1/notifications/{first.id}/resend")
    assert status == 202 and body["notification"]["state"] == "queued"
    await daemon.run_once()
    again = [n for n in await notifications(daemon.engine, sid) if n.id == first.id][0]
    assert again.state == "sent" and again.attempts == first.attempts + 1
    status, body, _ = await c.request("POST", "/api/v1/notifications/999999/resend")
    assert status == 404


async def test_unauthenticated_and_revoked_keys_get_401(api):
    daemon, c = api
    anon = Client(daemon)
    try:
        for method, path in [("POST", "/api/v1/shipments"), ("GET", "/api/v1/orders/X"), ("GET", "/api/v1/search?q=x"),
                             ("POST", "/api/v1/shipments/1/recheck"), ("POST", "/api/v1/shipments/1/stop"),
                             ("POST", "/api/v1/notifications/1/resend")]:
            status, body, resp = await anon.request(method, path, json=ONE)
            assert status == 401 and body["error"]["field"] == "Authorization", path
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        status, _, _ = await anon.request("GET", "/api/v1/search?q=x", headers={"Authorization": "Bearer trk_wrong"})
        assert status == 401
        status, _, _ = await anon.request("GET", "/api/v1/openapi.json")
        assert status == 200  # the document itself is public
    finally:
        await anon.close()
    assert await apikeys.revoke_key(daemon.engine, "shop", daemon.clock.now())
    status, _, _ = await c.request("GET", "/api/v1/search?q=x")
    assert status == 401


async def test_openapi_documents_exactly_the_routes(api):
    daemon, c = api
    status, doc, _ = await c.request("GET", "/api/v1/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    documented = {(m.upper(), "/api/v1" + p) for p, ops in doc["paths"].items() for m in ops}
    served = set()
    for resource in daemon.runner.app.router.resources():
        path = resource.canonical
        if path.startswith("/api/v1"):
            for route in resource:
                if route.method != "HEAD":
                    served.add((route.method, path))
    assert documented == served
    for path, ops in doc["paths"].items():
        for op in ops.values():
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    assert "{" + param["name"] + "}" in path


async def test_concurrent_registrations_of_one_order_never_fail(api):
    daemon, c = api
    import asyncio

    bodies = [{**ONE, "tracking_number": f"SBX-DELIVER-{i}"} for i in range(12)]
    answers = await asyncio.gather(*(c.request("POST", "/api/v1/shipments", json=b) for b in bodies))
    assert sorted(status for status, _, _ in answers) == [201] * 12
    status, order, _ = await c.request("GET", "/api/v1/orders/ORDER-1001")
    assert len(order["shipments"]) == 12


async def test_a_digit_that_is_not_ascii_is_refused_naming_the_field(api):
    daemon, c = api
    status, body, _ = await c.request("POST", "/api/v1/notifications/\u00b9/resend")
    assert status == 422 and body["error"]["field"] == "notification_id"
