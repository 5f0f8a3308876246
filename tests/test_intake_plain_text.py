"""Control characters and text-direction overrides never reach logs, SMS or subjects: every intake
refuses them naming the field (CLI, API, CSV, shop webhooks, the shop's own settings)."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.test_cli import config  # noqa: F401 - the fixture: a config.yaml in the working directory
from tests.test_intake_webhooks import (
    FULFILLMENT,
    SHOPIFY_SECRET,
    WOO_ORDER,
    WOO_SECRET,
    counts,
    sign,
)
from tests.web_helpers import Client, api_key, web_daemon
from tracker import plaintext
from tracker.cli import main
from tracker.components import load
from tracker.config import ConfigError


@pytest.mark.parametrize("text,bad", [
    ("ORDER-1\r\nINFO forged line", "U+000D"), ("ORDER\x1b[31m", "U+001B"), ("ORDER\x85", "U+0085"),
    ("\u202eORDER", "U+202E"), ("ORDER\u2066", "U+2066"), ("ORDER\x00", "U+0000"), ("ORDER\x7f", "U+007F"),
    ("ORDER-1\u2028INFO forged", "line or paragraph separator (U+2028)"),
    ("ORDER-1\u2029", "line or paragraph separator (U+2029)"),
    ("ORDER-\u200b1001", "invisible (zero-width) character (U+200B)"), ("\ufeffORDER", "(U+FEFF)"),
    ("ORDER\u200d", "(U+200D)"), ("ORDER\u2060", "(U+2060)"), ("ORDER\u200f", "text-direction control (U+200F)"),
])
def test_unsafe_text_is_named_by_code_point(text, bad):
    assert bad in plaintext.problem(text)


@pytest.mark.parametrize("text", ["ORDER-1001", "Pedido nº 1001 — São Paulo", "Παραγγελία", "#1001.1", "注文"])
def test_plain_text_of_any_script_passes(text):
    assert plaintext.problem(text) is None


@pytest.mark.usefixtures("config")
@pytest.mark.parametrize("flag,value,field", [
    ("--order", "O-1\nERROR fake", "order_number"), ("--email", "a@example.com\u202e", "email"),
    ("--timezone", "UTC\x1b", "timezone"), ("--carrier", "sand\u2067box", "carrier"),
    ("--order", "O-1\u2028ERROR fake", "order_number"), ("--order", "O-\u200b1", "order_number"),
    ("--tracking", "SBX-DELIVER-1\ufeff", "tracking_number"),
])
def test_cli_refuses_control_characters_naming_the_field(capsys, flag, value, field):
    args = ["add", "--order", "O-1", "--carrier", "sandbox", "--tracking", "SBX-DELIVER-1", "--email", "a@example.com"]
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tracker: {field}: holds ") and err.count("\n") == 1 and "Fix:" in err


@pytest.mark.usefixtures("config")
def test_csv_row_with_a_control_character_is_rejected_with_its_row(tmp_path, capsys):
    path = tmp_path / "o.csv"
    path.write_text("order_number,carrier,tracking_number,email\n"
                    "O-1,sandbox,SBX-DELIVER-1,a@example.com\n"
                    "\"O-2\u202e\",sandbox,SBX-DELIVER-2,b@example.com\n", encoding="utf-8")
    assert main(["import", str(path)]) == 1
    out = capsys.readouterr().out
    assert "row 3: order_number: holds a text-direction control (U+202E)" in out
    assert "1 shipments registered" in out


@pytest.mark.parametrize("shop,key,code", [
    ({"name": "Demo\nShop"}, r"shop\.name", "000A"), ({"sender_name": "Loja\x1b[2J"}, r"shop\.sender_name", "001B"),
    ({"support_phone": "+1 415\u202e"}, r"shop\.support_phone", "202E"),
    ({"support": {"pt-BR": {"hours": "Seg\u2066-Sex"}}}, r"shop\.support\.pt-BR\.hours", "2066"),
])
def test_shop_settings_with_control_characters_are_refused_at_start(tmp_path, shop, key, code):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"shop": shop}))
    with pytest.raises(ConfigError, match=rf"{key}: .*\(U\+{code}\)"):
        load(path)


@pytest.fixture
async def web(start_daemon, tmp_path):
    daemon = await web_daemon(start_daemon, tmp_path, intake={"shopify_secret": SHOPIFY_SECRET,
                                                              "woocommerce_secret": WOO_SECRET})
    client = Client(daemon, await api_key(daemon))
    yield daemon, client
    await client.close()


async def test_api_refuses_control_characters_naming_the_field(web):
    daemon, c = web
    item = {"order_number": "O-1\u202e", "carrier": "sandbox", "tracking_number": "SBX-DELIVER-1",
            "email": "a@example.com"}
    status, body, _ = await c.request("POST", "/api/v1/shipments", json=item)
    assert status == 422 and body["error"]["field"] == "order_number"
    assert "U+202E" in body["error"]["problem"]
    assert await counts(daemon) == (0, 0, 0)


async def test_shop_webhooks_with_control_characters_get_400_and_write_nothing(web):
    daemon, c = web
    body = json.dumps({**FULFILLMENT, "name": "#1001\r\n.1"}).encode()
    status, answer, _ = await c.request("POST", "/webhooks/shopify", data=body, headers={
        "Content-Type": "application/json", "X-Shopify-Topic": "fulfillments/create", "X-Shopify-Webhook-Id": "w-9",
        "X-Shopify-Hmac-Sha256": sign(SHOPIFY_SECRET, body)})
    assert status == 400 and answer["error"]["field"] == "order_number" and "U+000D" in answer["error"]["problem"]
    order = {**WOO_ORDER, "billing": {**WOO_ORDER["billing"], "email": "ana@example.com\x1b[2J"}}
    body = json.dumps(order).encode()
    status, answer, _ = await c.request("POST", "/webhooks/woocommerce", data=body, headers={
        "Content-Type": "application/json", "X-WC-Webhook-Delivery-ID": "d-9",
        "X-WC-Webhook-Signature": sign(WOO_SECRET, body)})
    assert status == 400 and answer["error"]["field"] == "email"
    assert await counts(daemon) == (0, 0, 0)
