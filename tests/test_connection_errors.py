"""Connection errors name the address that was tried (never a password, path or query)."""

from __future__ import annotations

import socket

import yaml

from tests.carriers.conftest import HOURLY, NUMBERS
from tests.helpers import add, make_settings, shipment
from tracker import redact
from tracker.cli import main


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_database_is_named_in_one_line(tmp_path, monkeypatch, capsys):
    port = closed_port()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(
        {"database": {"url": f"postgresql://tracker:s3cret-pw@127.0.0.1:{port}/tracker"}}))
    assert main(["status", "--carriers"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"database.url: cannot connect to PostgreSQL at 127.0.0.1:{port} (database tracker" in err
    assert "s3cret-pw" not in err and "Fix:" in err


async def test_an_unreachable_carrier_is_named_in_the_shipments_last_error(tmp_path, start_daemon):
    port = closed_port()
    settings = make_settings(tmp_path, carriers={"dhl": {"base_url": f"http://127.0.0.1:{port}/dhl?key=x",
                                                         "api_key": "k", "timeout_seconds": 2}}, **HOURLY)
    daemon = await start_daemon(settings)
    ship = await add(daemon, "ORDER-D", NUMBERS["dhl"], carrier="dhl", phone=None)
    await daemon.run_once()
    error = (await shipment(daemon.engine, ship.id)).last_error
    assert f"connection to http://127.0.0.1:{port} failed" in error and "key=x" not in error


def test_origin_keeps_only_scheme_host_and_port():
    assert redact.origin("https://user:pw@hooks.example.com:8443/services/T0/B1/secret?x=1") == \
        "https://hooks.example.com:8443"
    assert redact.origin("http://[::1]:8080/x") == "http://[::1]:8080"
    assert redact.origin("not a url") == "(no address)"
