"""Fuzz every operation of the OpenAPI document with hypothesis: no input gets a 500, every error is JSON.

The daemon runs on its own event loop in a thread (a real aiohttp server on SQLite); hypothesis drives
it with plain blocking HTTP requests built from the document's paths and parameters.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import make_settings
from tracker import apikeys
from tracker.bulk import FIELDS
from tracker.clock import FakeClock


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tracker.app import Daemon

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    run = lambda coro: asyncio.run_coroutine_threadsafe(coro, loop).result(60)  # noqa: E731
    tmp = tmp_path_factory.mktemp("fuzz")
    daemon = Daemon(make_settings(tmp, server={"enabled": False, "port": 0},
                                  intake={"shopify_secret": "s1", "woocommerce_secret": "s2"}),
                    clock=FakeClock(datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)))
    run(daemon.start(web_server=True))
    key = run(apikeys.create_key(daemon.engine, "fuzz", daemon.clock.now()))
    try:
        yield f"http://127.0.0.1:{daemon.port}", key, daemon, run
    finally:
        run(daemon.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def call(base: str, key: str | None, method: str, path: str, body: bytes | None = None,
         content_type: str = "application/json") -> tuple[int, bytes, str]:
    req = urllib.request.Request(base + path, data=body, method=method)
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    if body is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read(), exc.headers.get("Content-Type", "")


def check(status: int, body: bytes, ctype: str) -> None:
    assert status < 500, body[:500]
    assert ctype.startswith("application/json")
    data = json.loads(body)
    if status >= 400:
        assert set(data["error"]) == {"field", "problem", "fix"}


json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80)
json_value = st.recursive(json_leaf, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4),
                          max_leaves=12)
field_value = (st.none() | st.text(max_size=70) | st.integers() | st.lists(st.text(max_size=8), max_size=3)
               | st.sampled_from(["sandbox", "SBX-DELIVER-1", "ana@example.com", "+14155550101", "pt-BR", "el",
                                  "Europe/Athens", "sms,email", "Nowhere/Zone", "", " "]))
registration = st.fixed_dictionaries({}, optional={f: field_value for f in FIELDS}) | st.dictionaries(
    st.sampled_from(list(FIELDS) + ["extra", ""]), field_value, max_size=9)
bodies = (registration | st.fixed_dictionaries({"shipments": st.lists(registration, max_size=5) | json_value})
          | json_value)
raw_bodies = st.binary(max_size=200) | st.sampled_from([b"", b"{", b"[]" * 10, b"[" * 5000 + b"]" * 5000,
                                                         b'{"shipments": {}}', b"\xff\xfe", b"null"])
segment = st.text(max_size=40) | st.integers(min_value=-10, max_value=10**20).map(str)

FUZZ = settings(max_examples=120, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def operations(base: str) -> list[tuple[str, str]]:
    status, body, _ = call(base, None, "GET", "/api/v1/openapi.json")
    doc = json.loads(body)
    return [(m.upper(), p) for p, ops in doc["paths"].items() for m in ops]


def fill(path: str, value: str) -> str:
    quoted = urllib.parse.quote(value, safe="") or "x"
    out = path
    for name in ("{number}", "{shipment_id}", "{notification_id}"):
        out = out.replace(name, quoted)
    return "/api/v1" + out


@FUZZ
@given(data=st.data())
def test_no_operation_answers_500(server, data):
    base, key, _, _ = server
    ops = operations(base)
    method, path = data.draw(st.sampled_from(ops))
    target = fill(path, data.draw(segment))
    if data.draw(st.booleans()):
        target += "?" + urllib.parse.urlencode({"q": data.draw(st.text(max_size=300))})
    body = None
    if method == "POST":
        body = (json.dumps(data.draw(bodies)).encode() if data.draw(st.booleans()) else data.draw(raw_bodies))
    auth = data.draw(st.sampled_from([key, key, key, None, "trk_" + "x" * 43]))
    check(*call(base, auth, method, target, body))


@FUZZ
@given(body=bodies)
def test_registration_bodies_never_500_and_errors_name_a_field(server, body):
    base, key, _, _ = server
    status, raw, ctype = call(base, key, "POST", "/api/v1/shipments", json.dumps(body).encode())
    check(status, raw, ctype)
    data = json.loads(raw)
    if status == 422:
        assert data["error"]["field"] and data["error"]["problem"]
    if status == 200 and "results" in data:
        for r in data["results"]:
            assert "shipment" in r or r["error"]["field"]


def _sign(secret: str, body: bytes) -> str:
    import base64
    import hashlib
    import hmac

    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


shop_like = st.fixed_dictionaries({}, optional={
    "name": st.none() | st.text(max_size=20) | st.integers(), "order_id": json_leaf, "status": json_leaf,
    "tracking_company": st.none() | st.sampled_from(["sandbox", "UPS", ""]) | st.text(max_size=10),
    "tracking_number": json_leaf, "tracking_numbers": st.lists(json_leaf, max_size=3) | json_value,
    "email": field_value, "destination": json_value | st.fixed_dictionaries({"phone": field_value}),
    "number": json_leaf, "id": json_leaf, "billing": json_value | st.fixed_dictionaries(
        {"email": field_value, "phone": field_value}),
    "meta_data": json_value | st.lists(st.fixed_dictionaries({"key": st.sampled_from(
        ["_wc_shipment_tracking_items", "_tracking_number", "_tracking_provider"]), "value": json_value | st.lists(
        st.fixed_dictionaries({}, optional={"tracking_provider": field_value, "tracking_number": field_value,
                                            "custom_tracking_provider": field_value}), max_size=2)}), max_size=3)})


@FUZZ
@given(payload=shop_like | json_value, raw=st.none() | raw_bodies, shop=st.sampled_from(["shopify", "woocommerce"]),
       signed=st.booleans())
def test_shop_webhooks_never_500(server, payload, raw, shop, signed):
    base, _, _, _ = server
    body = raw if raw is not None else json.dumps(payload).encode()
    secret = "s1" if shop == "shopify" else "s2"
    header = "X-Shopify-Hmac-Sha256" if shop == "shopify" else "X-WC-Webhook-Signature"
    req = urllib.request.Request(f"{base}/webhooks/{shop}", data=body, method="POST")
    req.add_header(header, _sign(secret, body) if signed else "bm9wZQ==")
    req.add_header("X-Shopify-Topic", "fulfillments/create")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, out = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            status, out = exc.code, exc.read()
    assert status < 500, out[:300]
    if not signed:
        assert status == 401
