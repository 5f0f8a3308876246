"""Provider, quiet-hours and SMS settings are checked at start-up; a bad one is refused by name."""

from __future__ import annotations

import pytest
import yaml

from tracker.components import load as load_config
from tracker.config import ConfigError

TWILIO = {"account_sid": "AC" + "a" * 32, "auth_token": "${TEST_TWILIO_TOKEN:-tok}", "from_number": "+15005550006"}
SENDGRID = {"api_key": "SG.x", "from_email": "orders@shop.example"}


def load(**sections):
    data = {"channels": {"sms": {"provider": "twilio"}, "email": {"provider": "sendgrid"}},
            "providers": {"twilio": TWILIO, "sendgrid": SENDGRID},
            "server": {"public_url": "https://track.shop.example"}}  # real providers: links need https://
    for key, value in sections.items():
        data[key] = value
    return load_config("config.yaml", text=yaml.safe_dump(data))


def test_a_complete_configuration_loads():
    s = load()
    assert s.channels.sms.provider == "twilio" and s.quiet_hours.enabled and s.sms.max_segments == 2


@pytest.mark.parametrize("providers, key", [
    ({"twilio": {**TWILIO, "account_sid": "AC123"}, "sendgrid": SENDGRID}, "providers.twilio.account_sid"),
    ({"twilio": {**TWILIO, "from_number": "5550006"}, "sendgrid": SENDGRID}, "providers.twilio.from_number"),
    ({"twilio": {k: v for k, v in TWILIO.items() if k != "from_number"}, "sendgrid": SENDGRID},
     "from_number and messaging_service_sid"),
    ({"twilio": {**TWILIO, "timout_seconds": 3}, "sendgrid": SENDGRID}, "providers.twilio.timout_seconds"),
    ({"twilio": TWILIO, "sendgrid": {**SENDGRID, "from_email": "not-an-address"}}, "providers.sendgrid.from_email"),
    ({"twilio": TWILIO, "sendgrid": {"from_email": "a@b.example"}}, "providers.sendgrid.api_key"),
    ({"twilio": TWILIO, "sendgrid": {**SENDGRID, "webhook_public_key": "bm9wZQ=="}},
     "providers.sendgrid.webhook_public_key"),
    ({"twilio": TWILIO, "sendgrid": {**SENDGRID, "base_url": "api.sendgrid.com"}}, "providers.sendgrid.base_url"),
])
def test_bad_provider_settings_are_refused_by_name(providers, key):
    with pytest.raises(ConfigError) as err:
        load(providers=providers)
    assert key in str(err.value)


@pytest.mark.parametrize("section, value, key", [
    ("quiet_hours", {"start": "25:00"}, "quiet_hours.start"),
    ("quiet_hours", {"end": "morning"}, "quiet_hours.end"),
    ("quiet_hours", {"enable": True}, "quiet_hours.enable"),
    ("sms", {"max_segments": 0}, "sms.max_segments"),
    ("sms", {"max_segments_by_locale": {"el": 0}}, "sms.max_segments_by_locale"),
    ("sms", {"max_segments_by_locale": {"greek": 3}}, "sms.max_segments_by_locale"),
    ("sms", {"max_segments_by_locale": {"es": "many"}}, "sms.max_segments_by_locale.es"),
])
def test_bad_quiet_hours_and_sms_settings_are_refused_by_name(section, value, key):
    with pytest.raises(ConfigError) as err:
        load(**{section: value})
    assert key in str(err.value)


@pytest.mark.parametrize("shop, key, fix", [
    ({"colors": {"primary": "purple"}}, "shop.colors.primary", "#rrggbb"),
    ({"colors": {"background": "#fff"}}, "shop.colors.background", "#rrggbb"),
    ({"colors": {"accent": "#112233"}}, "shop.colors.accent", ""),
    ({"logo_url": "logo.png"}, "shop.logo_url", "https://"),
    ({"logo_url": 'https://x.example/a.png" onerror="alert(1)'}, "shop.logo_url", "https://"),
    ({"support": {"brasil": {"email": "a@b.example"}}}, "shop.support", "pt-BR"),
    ({"support": {"es": {"email": "soporte"}}}, "shop.support.es.email", "support@yourshop.example"),
    ({"support": {"es": {"mail": "a@b.example"}}}, "shop.support.es.mail", ""),
])
def test_bad_branding_is_refused_naming_the_key_and_the_fix(shop, key, fix):
    with pytest.raises(ConfigError) as err:
        load(shop=shop)
    assert key in str(err.value) and fix in str(err.value)


def test_each_language_gets_its_own_budget_and_support_contact():
    s = load(sms={"max_segments": 2, "max_segments_by_locale": {"el": 3, "pt": 4}},
             shop={"support_email": "help@shop.example", "support_phone": "+1 415 555 0100",
                   "support": {"pt-BR": {"email": "suporte@shop.example", "hours": "9h às 18h"}}})
    assert [s.sms.budget(tag) for tag in ("el", "el-GR", "pt-BR", "pt", "en", None)] == [3, 3, 4, 4, 2, 2]
    br = s.shop.contact("pt-BR")
    assert (br.email, br.phone, br.hours) == ("suporte@shop.example", "+1 415 555 0100", "9h às 18h")
    assert s.shop.contact("pt_BR") == br and s.shop.contact("es").email == "help@shop.example"


def test_email_provider_cannot_send_sms():
    with pytest.raises(ConfigError) as err:
        load(channels={"sms": {"provider": "sendgrid"}, "email": {"provider": "sendgrid"}})
    assert "channels.sms.provider" in str(err.value) and "twilio" in str(err.value)


def test_shipped_config_files_are_identical_and_document_the_new_keys():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    shipped = (root / "config.yaml").read_text()
    assert shipped == (root / "tracker" / "default_config.yaml").read_text()
    lines = shipped.splitlines()
    for key in ("max_segments:", "enabled: true", 'start: "21:00"', 'end: "08:00"'):
        i = next(i for i, line in enumerate(lines) if line.strip().startswith(key) and
                 (key != "enabled: true" or lines[i - 1].strip().startswith("# The recipient")))
        assert lines[i - 1].strip().startswith("#"), key
