"""`tracker config check` reports every problem at once, each with its line; it warns when messages would
carry dead links; a Twilio signature that fails on server.public_url is logged with the URL checked."""

from __future__ import annotations

import logging

import pytest
import yaml

from tests.fakes.sendgrid import FakeSendGrid
from tests.fakes.twilio import FakeTwilio
from tests.messaging_env import messaging_settings
from tracker.cli import main


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path / "config.yaml"


def test_every_problem_is_reported_at_once_each_with_its_line(config, capsys, monkeypatch):
    monkeypatch.delenv("NO_SUCH_SECRET", raising=False)
    config.write_text(
        "database:\n"
        "  url: sqlite:///tracker.db\n"
        "poller:\n"
        "  claim_batch: lots\n"                      # line 4
        "  tick_seconds: soon\n"                     # line 5
        "shop:\n"
        "  nmae: Typo Shop\n"                        # line 7
        "  support_phone: ${NO_SUCH_SECRET}\n"       # line 8
        "carriers:\n"
        "  sandbox:\n"
        "    time_scale: fast\n")                    # line 11
    assert main(["config", "check"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert [ln.split(": ")[1].split(":")[1] for ln in err] == ["4", "5", "7", "8"]
    assert all(ln.startswith("tracker: config.yaml:") and "Fix:" in ln for ln in err)
    assert "poller.claim_batch" in err[0] and "poller.tick_seconds" in err[1] and "shop.nmae" in err[2]
    assert "NO_SUCH_SECRET" in err[3]
    # once the sections are right, every carrier and provider problem is reported together too
    config.write_text(
        "carriers:\n"
        "  sandbox:\n"
        "    time_scale: fast\n"                     # line 3
        "  pigeon: {}\n"                             # line 4
        "channels:\n"
        "  sms:\n"
        "    provider: smoke\n")                     # line 7
    assert main(["config", "check"]) == 2
    err = capsys.readouterr().err
    assert "config.yaml:3: carriers.sandbox.time_scale" in err and "config.yaml:4: carriers.pigeon" in err
    assert "config.yaml:7: channels.sms.provider" in err


TWILIO = {"account_sid": "AC" + "0" * 32, "auth_token": "t" * 32, "from_number": "+15005550006"}


@pytest.mark.parametrize("url, warning", [
    ("http://localhost:8080", "points at this machine"),
    ("http://127.0.0.1:8080", "points at this machine"),
    ("track.example.com", "has no scheme"),
    ("https://track.example.com", None),
])
def test_links_customers_cannot_open_are_warned_about(config, capsys, url, warning):
    """Twilio on a test server of this machine: the links are only warned about."""
    twilio = {**TWILIO, "base_url": "http://127.0.0.1:9"}
    config.write_text(f"server:\n  public_url: {url}\n" + yaml.safe_dump({
        "channels": {"sms": {"provider": "twilio"}}, "providers": {"twilio": twilio, "console": {}}}))
    assert main(["config", "check"]) == 0
    out = capsys.readouterr()
    assert "OK" in out.out
    if warning:
        assert f"config.yaml:2: warning: server.public_url {url!r} {warning}" in out.err
        assert "SMS" in out.err and "Fix:" in out.err
    else:
        assert out.err == ""


@pytest.mark.parametrize("url, problem", [
    ("track.example.com", "has no scheme"),
    ("http://track.example.com", "is not https://"),
    ("http://127.0.0.1:8080", "is not https://"),
])
def test_links_without_https_are_an_error_while_the_real_twilio_sends(config, capsys, url, problem):
    config.write_text(f"server:\n  public_url: {url}\n" + yaml.safe_dump({
        "channels": {"sms": {"provider": "twilio"}}, "providers": {"twilio": TWILIO, "console": {}}}))
    assert main(["config", "check"]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.startswith(f"tracker: config.yaml:2: server.public_url {url!r} {problem} while SMS go out")
    assert "Fix: set it to the https:// address" in out.err and out.err.count("\n") == 1


def test_https_on_this_machine_with_the_real_twilio_is_a_warning(config, capsys):
    config.write_text("server:\n  public_url: https://localhost:8443\n" + yaml.safe_dump({
        "channels": {"sms": {"provider": "twilio"}}, "providers": {"twilio": TWILIO, "console": {}}}))
    assert main(["config", "check"]) == 0
    assert "points at this machine" in capsys.readouterr().err


def test_no_warning_while_messages_only_go_to_the_console(config, capsys):
    config.write_text(yaml.safe_dump({"server": {"public_url": "http://localhost:8080"}}))
    assert main(["config", "check"]) == 0
    assert capsys.readouterr().err == ""


async def test_a_twilio_signature_failing_on_public_url_logs_the_url_checked(tmp_path, start_daemon, caplog):
    async with FakeTwilio() as tw, FakeSendGrid() as sg:
        settings = messaging_settings(tmp_path, tw, sg, server={"public_url": "https://track.example.com"})
        daemon = await start_daemon(settings, web_server=True)
        # Twilio signs the URL it really called, which is not server.public_url
        resp = await tw.inbound(f"http://127.0.0.1:{daemon.port}/webhooks/twilio/inbound", "+14155550101", "STOP")
        assert resp.status == 403
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("checked against https://track.example.com/webhooks/twilio/inbound" in ln
               and "server.public_url" in ln for ln in lines), lines
