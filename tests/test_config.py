"""config.yaml: the shipped default works, and every mistake is named with its line and a fix."""

from pathlib import Path

import pytest

from tracker.components import load as load_config
from tracker.config import DEFAULT_CONFIG, ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_top_level_config_is_the_packaged_default():
    assert (ROOT / "config.yaml").read_text() == DEFAULT_CONFIG.read_text()


def test_default_config_is_the_embedded_default():
    s = load_config(ROOT / "config.yaml")
    assert s.async_database_url == f"sqlite+aiosqlite:///{ROOT / 'tracker.db'}"
    assert list(s.carriers) == ["sandbox"]
    assert (s.channels.sms.provider, s.channels.email.provider) == ("console", "console")


def test_every_default_key_is_commented():
    """Each key line in the shipped config has a comment on it or directly above its block."""
    lines = DEFAULT_CONFIG.read_text().splitlines()
    sections = [i for i, line in enumerate(lines) if line and not line.startswith((" ", "#"))]
    for i in sections:
        assert lines[i - 1].startswith("#") or lines[i + 1].strip().startswith("#") or "#" in lines[i], lines[i]


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text,expected", [
    ("shop:\n  name: X\n  nmae: Y\n", ["config.yaml:3", "shop.nmae", "Extra inputs are not permitted", "Fix: remove it"]),
    ("poller:\n  tick_seconds: -1\n", ["config.yaml:2", "poller.tick_seconds", "greater than 0"]),
    ("shop:\n  timezone: Mars/Olympus\n", ["config.yaml:2", "shop.timezone", "IANA"]),
    ("carriers:\n  pony_express: {}\n", ["config.yaml:2", "carriers.pony_express", "unknown carrier", "sandbox"]),
    ("carriers:\n  sandbox:\n    time_scale: fast\n", ["config.yaml:3", "carriers.sandbox.time_scale"]),
    ("channels:\n  sms:\n    provider: pigeon\n", ["config.yaml:3", "channels.sms.provider", "console"]),
    ("shop: [oops\n", ["config.yaml:2", "not valid YAML", "Fix: check the indentation"]),
    ("- a\n- b\n", ["config.yaml:1", "top level must be a mapping"]),
    ("database:\n  url: mysql://x\n", ["config.yaml:2", "database.url", "postgresql://"]),
    ("watch:\n  handling_hours: 0\n", ["config.yaml:2", "watch.handling_hours", "greater than 0"]),
    ("watch:\n  date_moved_repeat_hours: soon\n", ["config.yaml:2", "watch.date_moved_repeat_hours"]),
])
def test_bad_config_names_key_line_and_fix(tmp_path, text, expected):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message
    for part in expected:
        assert part in message


def test_env_interpolation(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_NAME", "Casa Azul")
    s = load_config(write(tmp_path, "shop:\n  name: ${SHOP_NAME}\n  support_email: ${SUPPORT:-help@casa.example}\n"))
    assert s.shop.name == "Casa Azul" and s.shop.support_email == "help@casa.example"


def test_missing_env_var_names_key_line_and_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("TWILIO_TOKEN_X", raising=False)
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "shop:\n  name: ok\n  support_phone: ${TWILIO_TOKEN_X}\n"))
    assert "config.yaml:3" in str(info.value) and "export TWILIO_TOKEN_X" in str(info.value)


def test_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError, match="tracker init"):
        load_config(tmp_path / "nope.yaml")


def test_relative_sqlite_path_is_relative_to_the_config_file(tmp_path):
    (tmp_path / "sub").mkdir()
    s = load_config(write(tmp_path / "sub", "database:\n  url: sqlite:///data/t.db\n"))
    assert s.async_database_url == f"sqlite+aiosqlite:///{tmp_path / 'sub' / 'data' / 't.db'}"


def test_readme_documents_every_config_key():
    import yaml

    def leaves(data, prefix=()):
        for key, value in data.items():
            if isinstance(value, dict) and value:
                yield from leaves(value, prefix + (key,))
            else:
                yield ".".join(prefix + (key,))

    readme = (ROOT / "README.md").read_text()
    missing = [k for k in leaves(yaml.safe_load(DEFAULT_CONFIG.read_text())) if f"`{k}`" not in readme]
    assert missing == []
