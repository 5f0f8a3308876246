"""The shipped config's carrier examples, and `tracker check` against the fake."""

import asyncio
import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from tests.carriers.conftest import NUMBERS
from tests.fakes.carriers import deliver_journey, fake_carriers
from tracker.carriers import CARRIERS
from tracker.cli import main
from tracker.clock import SYSTEM
from tracker.components import load as load_config

REPO = Path(__file__).resolve().parents[2]
ENV = {"UPS_CLIENT_ID": "u1", "UPS_CLIENT_SECRET": "u2", "FEDEX_CLIENT_ID": "f1", "FEDEX_CLIENT_SECRET": "f2",
       "USPS_CLIENT_ID": "s1", "USPS_CLIENT_SECRET": "s2", "DHL_API_KEY": "d1", "CORREIOS_USERNAME": "c1",
       "CORREIOS_ACCESS_CODE": "c2", "CORREIOS_POSTING_CARD": "c3", "UPS_TRACK_ALERT_CREDENTIAL": "t1",
       "SEVENTEENTRACK_API_KEY": "k1", "AFTERSHIP_API_KEY": "a1", "AFTERSHIP_WEBHOOK_SECRET": "a2",
       "EASYPOST_API_KEY": "e1", "EASYPOST_WEBHOOK_SECRET": "e2"}


def test_config_files_are_identical():
    assert (REPO / "config.yaml").read_text() == (REPO / "tracker" / "default_config.yaml").read_text()


def test_commented_carrier_examples_are_valid_once_uncommented(monkeypatch):
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    text = (REPO / "config.yaml").read_text()
    head, rest = text.split("\ncarriers:\n", 1)
    block, tail = rest.split("\nchannels:\n", 1)
    # uncomment the example carrier blocks: "  # ups:" and "  #   client_id: ..."
    block = re.sub(r"^  # (\w+:.*)$", r"  \1", block, flags=re.M)
    block = re.sub(r"^  #   (\w+: \$\{.*)$", r"    \1", block, flags=re.M)
    text = f"{head}\ncarriers:\n{block}\nchannels:\n{tail}"
    settings = load_config(text=text)
    assert set(settings.carriers) == {"sandbox", "ups", "fedex", "usps", "dhl", "correios", "17track", "aftership",
                                      "easypost"}
    ups = CARRIERS["ups"].Settings.model_validate(settings.carriers["ups"])
    assert ups.client_secret == "u2" and ups.base_url is None and ups.track_alert_credential == "t1"
    assert CARRIERS["correios"].Settings.model_validate(settings.carriers["correios"]).posting_card == "c3"


def test_the_default_config_polls_the_sandbox_only():
    assert list(load_config(REPO / "config.yaml").carriers) == ["sandbox"]


def test_a_misspelt_credential_is_named(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"carriers": {"ups": {"client_idd": "x"}}}))
    with pytest.raises(Exception) as err:
        load_config(path)
    assert "carriers.ups.client_idd" in str(err.value)


@pytest.fixture
async def live_fake():
    """The fake on the real clock, for the CLI (which runs its own event loop in a thread)."""
    async with fake_carriers(SYSTEM) as server:
        yield server


def write_config(tmp_path, fake, *names) -> Path:
    path = tmp_path / "config.yaml"
    data = {"database": {"url": f"sqlite:///{tmp_path / 't.db'}"},
            "carriers": {"sandbox": {}, **{n: fake.settings(n) for n in names}}}
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("name", list(NUMBERS))
async def test_tracker_check_detects_the_carrier_and_prints_the_normalized_result(name, tmp_path, live_fake, capsys):
    number = NUMBERS[name]
    live_fake.add(name, number, deliver_journey(start=SYSTEM.now() - timedelta(hours=40), signed_by="L. COSTA"))
    path = write_config(tmp_path, live_fake, *NUMBERS)
    code = await asyncio.to_thread(main, ["--config", str(path), "check", number])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith(f"{name} {number}: delivered")
    assert "signed by: L. COSTA" in out
    for status in ("in_transit", "out_for_delivery", "delivered"):
        assert status in out
    assert "(local " in out   # the carrier's own offset is shown next to UTC


async def test_tracker_check_unknown_number_says_pending(tmp_path, live_fake, capsys):
    path = write_config(tmp_path, live_fake, "ups", "dhl")
    code = await asyncio.to_thread(main, ["--config", str(path), "check", NUMBERS["dhl"]])
    assert code == 0
    assert "pending (the carrier does not know this number yet" in capsys.readouterr().out


async def test_tracker_check_impb_goes_to_usps_even_when_fedex_is_configured(tmp_path, live_fake, capsys):
    path = write_config(tmp_path, live_fake, "usps", "fedex")
    code = await asyncio.to_thread(main, ["--config", str(path), "check", NUMBERS["usps"]])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "could belong to" not in captured.err
    assert captured.out.startswith("usps ")
